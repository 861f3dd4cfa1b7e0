"""OpenAPI descriptions of the contract's request and response, in English and Chinese.

These models document the API; the route parses bodies itself (see ``request_body``) so it can
refuse oversized bodies before reading them and accept the lenient forms real clients send.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class LivenessRequestBody(BaseModel):
    image_base64: str | None = Field(
        default=None,
        description=(
            "Face image, base64 (plain or URL-safe; a data:image/...;base64, prefix and line "
            "breaks are accepted). JPEG, PNG, WebP, BMP, GIF or TIFF; each side 15-8192 px; "
            "under 20 MB. One of image_base64 and image_url is required; image_base64 wins. "
            "/ 人脸图片Base64，像素[15,8192]，小于20M，与image_url二选一"
        ),
    )
    image_url: str | None = Field(
        default=None,
        description=(
            "http(s) URL of the face image, fetched by the server (5 s, 3 redirects, 20 MB; "
            "private and loopback addresses are refused). / 人脸图片的URL，像素[15,8192]，小于20M"
        ),
    )
    thresh: float | str | None = Field(
        default=0.8,
        description=(
            "Liveness threshold in [0, 1]: the face is live when liveness_score > thresh. "
            "A numeric string is accepted. / 活体阈值，默认0.8，分数大于阈值判为活体"
        ),
    )


class FaceData(BaseModel):
    box: list[float] = Field(
        description=(
            "facelive extension: the judged face as [x, y, w, h] in pixels of the image "
            "(EXIF orientation applied), from the top-left corner. / 人脸框（扩展字段）"
        )
    )
    landmarks: list[list[float]] = Field(
        description=(
            "facelive extension: five [x, y] points: right eye, left eye, nose tip, right and "
            "left mouth corners (the subject's right). / 五个关键点（扩展字段）"
        )
    )
    score: float = Field(description="Face detector confidence in [0, 1]. / 人脸检测置信度")


class LivenessData(BaseModel):
    liveness_score: float = Field(description="Liveness score in [0, 1]. / 活体分数[0,1]")
    is_live: bool = Field(description="liveness_score > thresh. / 是否判定为活体（分数>阈值）")
    risk_reason: str = Field(
        description=(
            "Empty when live; else spoof_suspected, or the quality reasons joined by commas "
            "(face_too_small, face_cut_off, too_dark, too_bright, blurred, face_angle, "
            "multiple_faces). / 风险原因或为空"
        )
    )
    face: FaceData | None = Field(
        default=None, description="facelive extension: where the judged face is. / 扩展字段"
    )
    image_width: int | None = Field(
        default=None, description="facelive extension: image width in pixels. / 图片宽度"
    )
    image_height: int | None = Field(
        default=None, description="facelive extension: image height in pixels. / 图片高度"
    )


class LivenessResponse(BaseModel):
    code: int = Field(
        description=(
            "200 live; 4004 not live (suspected recapture or attack); 4005 face too poor to "
            "judge; 4002 no face; "
            "4001 bad image; 4003 image_url not fetched; 4006 malformed parameter; "
            "4010/4011/4012 authentication; 4029 rate limit; 5000 internal error. / 错误码"
        )
    )
    msg: str = Field(description="Message in English. / 错误信息（英文）")
    msg_cn: str = Field(description="Message in Chinese. / 错误信息（中文）")
    success: bool = Field(description="True only for code 200. / 请求是否成功")
    request_id: str = Field(description="Unique request id, also in X-Request-Id. / 唯一请求ID")
    data: LivenessData | None = Field(
        description="Present whenever a face was scored (200, 4004, 4005). / 活体检测结果"
    )
