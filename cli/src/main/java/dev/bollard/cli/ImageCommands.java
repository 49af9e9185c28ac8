package dev.bollard.cli;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import com.google.gson.JsonSyntaxException;
import dev.bollard.api.cri.v1.Image;
import dev.bollard.api.cri.v1.ImageFilter;
import dev.bollard.api.cri.v1.ImageFsInfoRequest;
import dev.bollard.api.cri.v1.ImageSpec;
import dev.bollard.api.cri.v1.ImageStatusRequest;
import dev.bollard.api.cri.v1.ListImagesRequest;
import dev.bollard.api.cri.v1.RemoveImageRequest;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.List;
import java.util.concurrent.Callable;

/** crictl's image commands: pull, images, inspecti, rmi, imagefsinfo. */
final class ImageCommands {

    private ImageCommands() {
    }

    static ImageSpec spec(String image) {
        return ImageSpec.newBuilder().setImage(image).build();
    }

    @Command(name = "pull", mixinStandardHelpOptions = true, description = "Pull an image from a registry.")
    static final class Pull extends ClientCommand implements Callable<Integer> {
        @Parameters(paramLabel = "IMAGE")
        String image;

        @Option(names = "--creds", paramLabel = "USER[:PASSWORD]", description = "Registry credentials.")
        String creds;

        @Option(names = "--auth", paramLabel = "AUTH", description = "Base64 user:password, as in a docker config.")
        String auth;

        @Override
        public Integer call() {
            var request = dev.bollard.api.admin.v1.PullRequest.newBuilder().setImage(image);
            if (creds != null) {
                int colon = creds.indexOf(':');
                request.setUsername(colon < 0 ? creds : creds.substring(0, colon));
                request.setPassword(colon < 0 ? "" : creds.substring(colon + 1));
            }
            if (auth != null) {
                String decoded;
                try {
                    decoded = new String(java.util.Base64.getDecoder().decode(auth.strip()), java.nio.charset.StandardCharsets.UTF_8);
                } catch (IllegalArgumentException e) {
                    throw new CliException("--auth is not valid base64");
                }
                int colon = decoded.indexOf(':');
                if (colon < 0) {
                    throw new CliException("--auth must encode user:password");
                }
                request.setUsername(decoded.substring(0, colon)).setPassword(decoded.substring(colon + 1));
            }
            var console = System.console();
            var view = new PullProgressView(System.out, console != null && console.isTerminal());
            // Bollard's own Pull streams per-layer progress; the image and the result are those of CRI PullImage.
            String id = withClient(c -> c.images(stub -> {
                String result = "";
                var stream = stub.pull(request.build());
                while (stream.hasNext()) {
                    var p = stream.next();
                    if (!p.getImageId().isEmpty()) {
                        result = p.getImageId();
                    } else {
                        view.update(p);
                    }
                }
                return result;
            }));
            System.out.println("Image is up to date for " + id);
            return 0;
        }
    }

    @Command(name = "images", mixinStandardHelpOptions = true, description = "List images.")
    static final class Images extends ClientCommand implements Callable<Integer> {
        @Parameters(paramLabel = "REPOSITORY", arity = "0..1", description = "Only images matching this reference.")
        String filter;

        @Option(names = {"-q", "--quiet"}, description = "Only full image IDs.")
        boolean quiet;

        @Option(names = "--digests", description = "Show digests.")
        boolean digests;

        @Option(names = {"-o", "--output"}, defaultValue = "table", description = "json, yaml or table (default).")
        String output;

        @Override
        public Integer call() {
            var format = Output.parse(output);
            var request = ListImagesRequest.newBuilder();
            if (filter != null) {
                request.setFilter(ImageFilter.newBuilder().setImage(spec(filter)));
            }
            var response = withClient(c -> c.image(stub -> stub.listImages(request.build())));
            if (format != Output.Format.TABLE) {
                System.out.print(Output.render(Output.toJson(response), format));
                return 0;
            }
            if (quiet) {
                response.getImagesList().forEach(i -> System.out.println(i.getId()));
                return 0;
            }
            var table = digests ? new Table("IMAGE", "TAG", "DIGEST", "IMAGE ID", "SIZE") : new Table("IMAGE", "TAG", "IMAGE ID", "SIZE");
            for (Image i : response.getImagesList()) {
                String digest = i.getRepoDigestsCount() > 0 ? Table.shortId(after(i.getRepoDigests(0), '@')) : "<none>";
                List<String> tags = i.getRepoTagsList().isEmpty() ? List.of("<none>:<none>") : i.getRepoTagsList();
                for (String tag : tags) {
                    int colon = tag.lastIndexOf(':');
                    String repo = tag.substring(0, colon);
                    String t = tag.substring(colon + 1);
                    String size = Table.humanSize(i.getSize());
                    if (digests) {
                        table.row(repo, t, digest, Table.shortId(i.getId()), size);
                    } else {
                        table.row(repo, t, Table.shortId(i.getId()), size);
                    }
                }
            }
            System.out.print(table.render());
            return 0;
        }

        private static String after(String s, char c) {
            return s.substring(s.indexOf(c) + 1);
        }
    }

    @Command(name = "inspecti", mixinStandardHelpOptions = true, description = "Show an image's status and config.")
    static final class Inspect extends ClientCommand implements Callable<Integer> {
        @Parameters(paramLabel = "IMAGE", arity = "1..*")
        List<String> images;

        @Option(names = {"-o", "--output"}, defaultValue = "json", description = "json (default) or yaml.")
        String output;

        @Override
        public Integer call() {
            var format = Output.parse(output);
            for (String image : images) {
                var response = withClient(c -> c.image(stub -> stub.imageStatus(
                        ImageStatusRequest.newBuilder().setImage(spec(image)).setVerbose(true).build())));
                if (!response.hasImage()) {
                    throw new CliException("no such image \"" + image + "\" present");
                }
                var tree = new JsonObject();
                tree.add("status", Output.toJson(response.getImage()));
                var info = new JsonObject();
                response.getInfoMap().forEach((k, v) -> {
                    try {
                        info.add(k, JsonParser.parseString(v));
                    } catch (JsonSyntaxException e) {
                        info.add(k, new JsonPrimitive(v));
                    }
                });
                tree.add("info", info);
                System.out.print(Output.render(tree, format == Output.Format.TABLE ? Output.Format.JSON : format));
            }
            return 0;
        }
    }

    @Command(name = "rmi", mixinStandardHelpOptions = true, description = "Remove images (a tag of a multi-tag image is only untagged).")
    static final class Remove extends ClientCommand implements Callable<Integer> {
        @Parameters(paramLabel = "IMAGE", arity = "1..*")
        List<String> images;

        @Override
        public Integer call() {
            for (String image : images) {
                var status = withClient(c -> c.image(stub -> stub.imageStatus(
                        ImageStatusRequest.newBuilder().setImage(spec(image)).build())));
                if (!status.hasImage()) {
                    throw new CliException("no such image \"" + image + "\" present");
                }
                withClient(c -> c.image(stub -> stub.removeImage(RemoveImageRequest.newBuilder().setImage(spec(image)).build())));
                System.out.println("Deleted: " + image);
            }
            return 0;
        }
    }

    @Command(name = "imagefsinfo", mixinStandardHelpOptions = true, description = "Show the image filesystem's usage.")
    static final class FsInfo extends ClientCommand implements Callable<Integer> {
        @Option(names = {"-o", "--output"}, defaultValue = "json", description = "json (default) or yaml.")
        String output;

        @Override
        public Integer call() {
            var format = Output.parse(output);
            var response = withClient(c -> c.image(stub -> stub.imageFsInfo(ImageFsInfoRequest.getDefaultInstance())));
            System.out.print(Output.render(Output.toJson(response), format == Output.Format.TABLE ? Output.Format.JSON : format));
            return 0;
        }
    }
}
