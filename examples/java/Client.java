// Checks one photo with a facelive server. JDK 11+ only (java.net.http), no Maven:
//
//     java Client.java
//
// Configuration comes from the environment (see examples/README.md):
// FACELIVE_URL, FACELIVE_APPCODE or FACELIVE_APP_KEY + FACELIVE_APP_SECRET,
// FACELIVE_IMAGE or FACELIVE_IMAGE_URL, and optionally FACELIVE_THRESH.
//
// Prints the response envelope. Exit status: 0 when the photo was scored (read is_live),
// 1 on any error, 2 when the configuration is incomplete.

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public class Client {
    static final String ENDPOINT = "/api/face_liveness/v1";
    // The JDK has no JSON parser; the envelope's top-level "code" is its first "code" key.
    static final Pattern CODE = Pattern.compile("\"code\"\\s*:\\s*(\\d+)");

    static void fail(String message, int status) {
        System.err.println("Client.java: " + message);
        System.exit(status);
    }

    static String env(String name) {
        String value = System.getenv(name);
        return value == null || value.isEmpty() ? null : value;
    }

    static String md5Hex(String text) throws Exception {
        byte[] digest = MessageDigest.getInstance("MD5").digest(text.getBytes(StandardCharsets.UTF_8));
        StringBuilder hex = new StringBuilder();
        for (byte b : digest) hex.append(String.format("%02x", b));
        return hex.toString();
    }

    // A JSON string literal; enough for URLs (the base64 alphabet needs no escaping).
    static String jsonString(String s) {
        StringBuilder out = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') out.append('\\').append(c);
            else if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
            else out.append(c);
        }
        return out.append('"').toString();
    }

    static List<String> authHeaders() throws Exception {
        List<String> headers = new ArrayList<>();
        String appcode = env("FACELIVE_APPCODE");
        if (appcode != null) {
            headers.add("Authorization");
            headers.add("APPCODE " + appcode);
            return headers;
        }
        String key = env("FACELIVE_APP_KEY");
        String secret = env("FACELIVE_APP_SECRET");
        if (key == null || secret == null) {
            fail("set FACELIVE_APPCODE, or FACELIVE_APP_KEY and FACELIVE_APP_SECRET", 2);
        }
        // Milliseconds since 1970 in UTC; the server accepts each signature only once.
        String timestamp = String.valueOf(System.currentTimeMillis());
        headers.add("x-ca-key");
        headers.add(key);
        headers.add("x-ca-timestamp");
        headers.add(timestamp);
        headers.add("x-ca-signature");
        headers.add(md5Hex(key + "&" + timestamp + "&" + secret));
        return headers;
    }

    static String requestBody() {
        StringBuilder body = new StringBuilder("{");
        String image = env("FACELIVE_IMAGE");
        String imageUrl = env("FACELIVE_IMAGE_URL");
        if (image != null) {
            try {
                byte[] bytes = Files.readAllBytes(Path.of(image));
                body.append("\"image_base64\":\"").append(Base64.getEncoder().encodeToString(bytes)).append('"');
            } catch (IOException e) {
                fail("cannot read FACELIVE_IMAGE: " + e, 2);
            }
        } else if (imageUrl != null) {
            body.append("\"image_url\":").append(jsonString(imageUrl));
        } else {
            fail("set FACELIVE_IMAGE (a file) or FACELIVE_IMAGE_URL", 2);
        }
        String thresh = env("FACELIVE_THRESH");
        if (thresh != null) {
            try {
                double value = Double.parseDouble(thresh);
                if (Double.isNaN(value) || Double.isInfinite(value)) throw new NumberFormatException();
                body.append(",\"thresh\":").append(value);
            } catch (NumberFormatException e) {
                fail("FACELIVE_THRESH must be a number, not '" + thresh + "'", 2);
            }
        }
        return body.append('}').toString();
    }

    public static void main(String[] args) throws Exception {
        String base = env("FACELIVE_URL") != null ? env("FACELIVE_URL") : "http://127.0.0.1:8080";
        base = base.replaceAll("/+$", "");
        List<String> headers = authHeaders();
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(base + ENDPOINT))
                .timeout(Duration.ofSeconds(30))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(requestBody(), StandardCharsets.UTF_8));
        for (int i = 0; i < headers.size(); i += 2) request.header(headers.get(i), headers.get(i + 1));
        // HTTP/1.1: the default would first try an h2c upgrade, which the server does not speak.
        HttpClient client = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(30))
                .build();
        String text = null;
        try {
            // 4xx/5xx still carry the envelope: the status is not an exception here.
            text = client.send(request.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8)).body();
        } catch (IOException | InterruptedException e) {
            fail("request to " + base + " failed: " + e, 1);
        }
        System.out.println(text);
        Matcher code = CODE.matcher(text);
        if (!code.find()) fail("the response is not a facelive envelope", 1);
        int value = Integer.parseInt(code.group(1));
        // 200 live, 4004 not live, 4005 face too poor to judge: all scored.
        System.exit(value == 200 || value == 4004 || value == 4005 ? 0 : 1);
    }
}
