package dev.bollard.cli;

import dev.bollard.api.admin.v1.ExportRequest;
import dev.bollard.api.admin.v1.ImportRequest;
import dev.bollard.daemon.image.ImageBuilder;
import dev.bollard.daemon.image.ref.ImageReference;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code bollard image import|export|build}: images for nodes without a registry. */
@Command(name = "image", mixinStandardHelpOptions = true, description = "Import, export or build image archives.",
        subcommands = {ImageArchiveCommands.Import.class, ImageArchiveCommands.Export.class, ImageArchiveCommands.Build.class})
final class ImageArchiveCommands {

    /** The daemon runs on this node and reads the path itself: make it absolute here. */
    static String absolute(Path p) {
        return p.toAbsolutePath().normalize().toString();
    }

    @Command(name = "import", mixinStandardHelpOptions = true,
            description = "Load the images of an OCI image layout archive or a `docker save` archive.")
    static final class Import extends ClientCommand implements Callable<Integer> {
        @Parameters(paramLabel = "FILE")
        Path file;

        @Option(names = "--base-name", paramLabel = "NAME", defaultValue = "",
                description = "Name for images the archive does not name (their ref.name becomes the tag).")
        String baseName;

        @Override
        public Integer call() {
            var response = withClient(c -> c.images(stub -> stub.import_(ImportRequest.newBuilder()
                    .setPath(absolute(file)).setBaseName(baseName).build())));
            for (var image : response.getImagesList()) {
                System.out.println("Imported " + image.getId() + " " + String.join(" ", image.getRepoTagsList()));
            }
            return 0;
        }
    }

    @Command(name = "export", mixinStandardHelpOptions = true, description = "Write an image as an OCI image layout archive.")
    static final class Export extends ClientCommand implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "IMAGE")
        String image;

        @Parameters(index = "1", paramLabel = "FILE")
        Path file;

        @Override
        public Integer call() {
            var response = withClient(c -> c.images(stub -> stub.export(ExportRequest.newBuilder()
                    .setImage(image).setPath(absolute(file)).build())));
            System.out.println("Exported " + response.getId() + " to " + absolute(file));
            return 0;
        }
    }

    @Command(name = "build", mixinStandardHelpOptions = true,
            description = "Build a one-layer image from a directory into an OCI image layout archive (no daemon needed).")
    static final class Build implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "DIR", description = "The image's root filesystem.")
        Path rootfs;

        @Option(names = "--name", required = true, paramLabel = "REF", description = "The image's name, e.g. bollard.local/busybox:demo.")
        String name;

        @Option(names = {"-o", "--output"}, required = true, paramLabel = "FILE", description = "The archive to write.")
        Path output;

        @Option(names = "--cmd", split = ",", paramLabel = "ARG", description = "Default command (comma-separated).")
        List<String> cmd = List.of();

        @Option(names = "--entrypoint", split = ",", paramLabel = "ARG", description = "Entrypoint (comma-separated).")
        List<String> entrypoint = List.of();

        @Option(names = "--env", paramLabel = "K=V", description = "Environment (repeatable).")
        List<String> env = List.of();

        @Option(names = "--workdir", defaultValue = "", paramLabel = "DIR")
        String workdir;

        @Option(names = "--user", defaultValue = "", paramLabel = "USER")
        String user;

        @Override
        public Integer call() throws IOException {
            ImageReference ref;
            try {
                ref = ImageReference.parse(name);
            } catch (IllegalArgumentException e) {
                throw new CliException(e.getMessage());
            }
            Path out = output.toAbsolutePath();
            Path tmp = Files.createTempFile(out.getParent(), "." + out.getFileName(), ".tmp");
            try {
                String id;
                try (var os = new BufferedOutputStream(Files.newOutputStream(tmp), 1 << 16)) {
                    id = ImageBuilder.build(rootfs, new ImageBuilder.Spec(ref, entrypoint, cmd, env, workdir, user), os).toString();
                } catch (IllegalArgumentException e) {
                    throw new CliException(e.getMessage());
                }
                Files.setPosixFilePermissions(tmp, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
                Files.move(tmp, out, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                System.out.println("Built " + id + " " + ref + " into " + out);
            } finally {
                Files.deleteIfExists(tmp);
            }
            return 0;
        }
    }
}
