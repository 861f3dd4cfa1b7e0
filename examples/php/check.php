<?php
// Checks one photo with a facelive server. PHP 7.4+ with the curl extension.
//
//     php check.php
//
// Configuration comes from the environment (see examples/README.md):
// FACELIVE_URL, FACELIVE_APPCODE or FACELIVE_APP_KEY + FACELIVE_APP_SECRET,
// FACELIVE_IMAGE or FACELIVE_IMAGE_URL, and optionally FACELIVE_THRESH.
//
// Prints the response envelope. Exit status: 0 when the photo was scored (read is_live),
// 1 on any error, 2 when the configuration is incomplete.

const ENDPOINT = '/api/face_liveness/v1';
const SCORED = [200, 4004, 4005]; // live, not live, face too poor to judge

function fail(string $message, int $status): void
{
    fwrite(STDERR, "check.php: $message\n");
    exit($status);
}

function env(string $name): ?string
{
    $value = getenv($name);
    return ($value === false || $value === '') ? null : $value;
}

function auth_headers(): array
{
    $appcode = env('FACELIVE_APPCODE');
    if ($appcode !== null) {
        return ['Authorization: APPCODE ' . $appcode];
    }
    $key = env('FACELIVE_APP_KEY');
    $secret = env('FACELIVE_APP_SECRET');
    if ($key === null || $secret === null) {
        fail('set FACELIVE_APPCODE, or FACELIVE_APP_KEY and FACELIVE_APP_SECRET', 2);
    }
    // Milliseconds since 1970 in UTC; the server accepts each signature only once.
    // (sprintf, not an int cast, so 32-bit PHP does not overflow.)
    $timestamp = sprintf('%.0f', floor(microtime(true) * 1000));
    return [
        'x-ca-key: ' . $key,
        'x-ca-timestamp: ' . $timestamp,
        'x-ca-signature: ' . md5($key . '&' . $timestamp . '&' . $secret),
    ];
}

function request_body(): string
{
    $body = [];
    $image = env('FACELIVE_IMAGE');
    $image_url = env('FACELIVE_IMAGE_URL');
    if ($image !== null) {
        $bytes = @file_get_contents($image);
        if ($bytes === false) {
            fail("cannot read FACELIVE_IMAGE: $image", 2);
        }
        $body['image_base64'] = base64_encode($bytes);
    } elseif ($image_url !== null) {
        $body['image_url'] = $image_url;
    } else {
        fail('set FACELIVE_IMAGE (a file) or FACELIVE_IMAGE_URL', 2);
    }
    $thresh = env('FACELIVE_THRESH');
    if ($thresh !== null) {
        if (!is_numeric($thresh)) {
            fail("FACELIVE_THRESH must be a number, not '$thresh'", 2);
        }
        $body['thresh'] = (float) $thresh;
    }
    return json_encode($body, JSON_UNESCAPED_SLASHES);
}

$base = rtrim(env('FACELIVE_URL') ?? 'http://127.0.0.1:8080', '/');
$headers = array_merge(['Content-Type: application/json'], auth_headers());
$ch = curl_init();
curl_setopt_array($ch, [
    CURLOPT_URL => $base . ENDPOINT,
    CURLOPT_POST => true,
    CURLOPT_HTTPHEADER => $headers,
    CURLOPT_POSTFIELDS => request_body(),
    CURLOPT_RETURNTRANSFER => true,
    CURLOPT_TIMEOUT => 30,
    // Certificates are verified (curl's default; the contract's sample turns this off).
    CURLOPT_SSL_VERIFYPEER => true,
]);
$text = curl_exec($ch);  // 4xx/5xx still carry the envelope
if ($text === false) {
    fail("request to $base failed: " . curl_error($ch), 1);
}
curl_close($ch);
echo $text, "\n";
$envelope = json_decode($text, true);
if (!is_array($envelope) || !isset($envelope['code'])) {
    fail('the response is not a facelive envelope', 1);
}
exit(in_array($envelope['code'], SCORED, true) ? 0 : 1);
