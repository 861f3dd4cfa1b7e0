// The fixed vocabulary of risk_reason and the contract's codes, in plain English and Chinese.
// Shared by the demo page and the console; no dependencies.
"use strict";

window.facelive = {
  RISKS: {
    spoof_suspected: [
      "Looks like an attack: a photo of a photo or of a screen, a mask or a cut-out",
      "疑似翻拍或攻击（照片、屏幕、面具或剪纸等）",
    ],
    face_too_small: ["The face is too small: move closer", "人脸太小，请靠近一些"],
    face_cut_off: ["The face is cut off by the edge of the photo", "人脸被画面边缘截断"],
    multiple_faces: ["More than one face in the photo", "画面中有多张人脸"],
    too_dark: ["Too dark: add light", "光线太暗，请增加照明"],
    too_bright: ["Too bright or overexposed", "光线过亮或过曝"],
    blurred: ["Blurred: hold still", "图像模糊，请保持稳定"],
    face_angle: ["The face is turned or tilted: look straight at the camera", "人脸角度过大，请正对镜头"],
  },
  CODES: {
    200: ["Live", "活体"],
    4001: ["Bad image", "图片错误"],
    4002: ["No face found", "未检测到人脸"],
    4003: ["Image URL not fetched", "图片URL无法获取"],
    4004: ["Not live", "非活体"],
    4005: ["Retake the photo", "请重新拍摄"],
    4006: ["Malformed request", "请求参数错误"],
    4010: ["Key refused", "认证失败"],
    4011: ["Timestamp refused", "时间戳错误"],
    4012: ["Signature replayed", "签名重复"],
    4029: ["Rate limit or quota", "请求过于频繁或超出配额"],
    5000: ["Server error", "服务内部错误"],
  },
  risk(token) {
    return this.RISKS[token] || [token, token];
  },
  codeName(code) {
    return this.CODES[code] || ["Code " + code, "错误码 " + code];
  },
};
