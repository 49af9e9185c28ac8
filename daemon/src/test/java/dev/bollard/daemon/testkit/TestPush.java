package dev.bollard.daemon.testkit;

import dev.bollard.daemon.content.Digest;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

/**
 * Pushes blobs and manifests with the distribution API (monolithic upload: POST to start, PUT with the digest),
 * so tests need no skopeo and no internet.
 *
 * @param authorization an Authorization header value for every request, or null
 */
public record TestPush(URI apiRoot, HttpClient http, String authorization) {

    public TestPush(URI apiRoot) {
        this(apiRoot, HttpClient.newHttpClient(), null);
    }

    public Digest blob(String repository, byte[] content) throws IOException, InterruptedException {
        Digest digest = Digest.sha256(content);
        var start = send(request(URI.create(apiRoot + "/" + repository + "/blobs/uploads/"))
                .POST(HttpRequest.BodyPublishers.noBody()));
        if (start.statusCode() != 202) {
            throw new IOException("upload start: HTTP " + start.statusCode() + " " + start.body());
        }
        String location = start.headers().firstValue("Location").orElseThrow();
        URI upload = apiRoot.resolve(location);
        String sep = upload.getRawQuery() == null ? "?" : "&";
        var put = send(request(URI.create(upload + sep + "digest=" + digest))
                .header("Content-Type", "application/octet-stream")
                .PUT(HttpRequest.BodyPublishers.ofByteArray(content)));
        if (put.statusCode() != 201) {
            throw new IOException("upload of " + digest + ": HTTP " + put.statusCode() + " " + put.body());
        }
        return digest;
    }

    public Digest manifest(String repository, String reference, String mediaType, byte[] content)
            throws IOException, InterruptedException {
        var put = send(request(URI.create(apiRoot + "/" + repository + "/manifests/" + reference))
                .header("Content-Type", mediaType).PUT(HttpRequest.BodyPublishers.ofByteArray(content)));
        if (put.statusCode() != 201) {
            throw new IOException("manifest " + reference + ": HTTP " + put.statusCode() + " " + put.body());
        }
        return Digest.sha256(content);
    }

    private HttpRequest.Builder request(URI uri) {
        var b = HttpRequest.newBuilder(uri);
        if (authorization != null) {
            b.header("Authorization", authorization);
        }
        return b;
    }

    private HttpResponse<String> send(HttpRequest.Builder b) throws IOException, InterruptedException {
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }
}
