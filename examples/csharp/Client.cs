// Checks one photo with a facelive server. .NET 8 (HttpClient, System.Text.Json), no NuGet:
//
//     dotnet run --project Client.csproj
//
// NOT TESTED: Debian has no .NET SDK package, so the test suite cannot run this client (see
// examples/README.md). It follows the tested clients line for line.
//
// Configuration comes from the environment (see examples/README.md):
// FACELIVE_URL, FACELIVE_APPCODE or FACELIVE_APP_KEY + FACELIVE_APP_SECRET,
// FACELIVE_IMAGE or FACELIVE_IMAGE_URL, and optionally FACELIVE_THRESH.
//
// Prints the response envelope. Exit status: 0 when the photo was scored (read is_live),
// 1 on any error, 2 when the configuration is incomplete.

using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Net.Http;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading.Tasks;

static class FaceliveCheck
{
    const string Endpoint = "/api/face_liveness/v1";
    static readonly int[] Scored = { 200, 4004, 4005 }; // live, not live, too poor to judge

    sealed class ConfigError : Exception
    {
        public ConfigError(string message) : base(message) { }
    }

    static string? Env(string name)
    {
        var value = Environment.GetEnvironmentVariable(name);
        return string.IsNullOrEmpty(value) ? null : value;
    }

    static string Md5Hex(string text)
    {
        var digest = MD5.HashData(Encoding.UTF8.GetBytes(text));
        return Convert.ToHexString(digest).ToLowerInvariant();
    }

    static Dictionary<string, string> AuthHeaders()
    {
        var appcode = Env("FACELIVE_APPCODE");
        if (appcode != null)
            return new() { ["Authorization"] = "APPCODE " + appcode };
        var key = Env("FACELIVE_APP_KEY");
        var secret = Env("FACELIVE_APP_SECRET");
        if (key == null || secret == null)
            throw new ConfigError("set FACELIVE_APPCODE, or FACELIVE_APP_KEY and FACELIVE_APP_SECRET");
        // Milliseconds since 1970 in UTC; the server accepts each signature only once.
        var timestamp = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
        return new()
        {
            ["x-ca-key"] = key,
            ["x-ca-timestamp"] = timestamp,
            ["x-ca-signature"] = Md5Hex($"{key}&{timestamp}&{secret}"),
        };
    }

    static string RequestBody()
    {
        var body = new Dictionary<string, object>();
        var image = Env("FACELIVE_IMAGE");
        var imageUrl = Env("FACELIVE_IMAGE_URL");
        if (image != null)
        {
            try { body["image_base64"] = Convert.ToBase64String(File.ReadAllBytes(image)); }
            catch (IOException e) { throw new ConfigError("cannot read FACELIVE_IMAGE: " + e.Message); }
            catch (UnauthorizedAccessException e) { throw new ConfigError("cannot read FACELIVE_IMAGE: " + e.Message); }
        }
        else if (imageUrl != null)
            body["image_url"] = imageUrl;
        else
            throw new ConfigError("set FACELIVE_IMAGE (a file) or FACELIVE_IMAGE_URL");
        var thresh = Env("FACELIVE_THRESH");
        if (thresh != null)
        {
            if (!double.TryParse(thresh, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
                throw new ConfigError($"FACELIVE_THRESH must be a number, not '{thresh}'");
            body["thresh"] = value;
        }
        return JsonSerializer.Serialize(body);
    }

    static async Task<int> Main()
    {
        var baseUrl = (Env("FACELIVE_URL") ?? "http://127.0.0.1:8080").TrimEnd('/');
        using var request = new HttpRequestMessage(HttpMethod.Post, baseUrl + Endpoint);
        try
        {
            foreach (var (name, value) in AuthHeaders())
                request.Headers.TryAddWithoutValidation(name, value);
            request.Content = new StringContent(RequestBody(), Encoding.UTF8, "application/json");
        }
        catch (ConfigError e)
        {
            Console.Error.WriteLine("Client.cs: " + e.Message);
            return 2;
        }
        string text;
        try
        {
            using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            using var response = await client.SendAsync(request);
            text = await response.Content.ReadAsStringAsync(); // 4xx/5xx still carry the envelope
        }
        catch (Exception e) when (e is HttpRequestException || e is TaskCanceledException)
        {
            Console.Error.WriteLine($"Client.cs: request to {baseUrl} failed: {e.Message}");
            return 1;
        }
        Console.WriteLine(text);
        try
        {
            using var envelope = JsonDocument.Parse(text);
            var code = envelope.RootElement.GetProperty("code").GetInt32();
            return Array.IndexOf(Scored, code) >= 0 ? 0 : 1;
        }
        catch (Exception e) when (e is JsonException || e is KeyNotFoundException || e is InvalidOperationException)
        {
            Console.Error.WriteLine("Client.cs: the response is not a facelive envelope");
            return 1;
        }
    }
}
