package dev.bollard.cli;

import dev.bollard.api.cri.v1.AttachRequest;
import dev.bollard.api.cri.v1.ExecRequest;
import dev.bollard.api.cri.v1.PortForwardRequest;
import dev.bollard.daemon.streaming.client.StreamClient;
import dev.bollard.daemon.streaming.client.StreamClient.Transport;
import dev.bollard.daemon.streaming.client.StreamClientException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * The streaming commands (crictl's exec, attach, port-forward): a CRI call returns a URL on the daemon's
 * streaming server, which {@link StreamClient} then speaks, over SPDY (the default, as crictl) or WebSocket.
 */
final class StreamCommands {

    private StreamCommands() {
    }

    /** Streams an exec through the daemon's streaming server; the process exits with the command's code. */
    static int streamExec(ClientCommand command, String containerId, List<String> cmd, boolean stdin, boolean tty,
                          Transport transport) {
        var request = ExecRequest.newBuilder().setContainerId(containerId).addAllCmd(cmd).setTty(tty).setStdin(stdin)
                .setStdout(true).setStderr(!tty).build();
        String url = command.withClient(c -> c.runtime(stub -> stub.exec(request)).getUrl());
        return remoteCommand(url, stdin, tty, transport);
    }

    private static int remoteCommand(String url, boolean stdin, boolean tty, Transport transport) {
        var terminal = tty ? Terminal.open() : java.util.Optional.<Terminal>empty();
        try (var client = new StreamClient(true)) {
            var io = new StreamClient.Io(stdin ? System.in : null, rawOut(System.out), tty ? null : rawOut(System.err),
                    tty, terminal.map(Terminal::resizes).orElse(null));
            return client.remoteCommand(URI.create(url), transport, io);
        } catch (StreamClientException e) {
            throw new CliException(e.getMessage());
        } catch (IOException e) {
            throw new CliException("streaming failed: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CliException("interrupted");
        } finally {
            terminal.ifPresent(Terminal::close);
        }
    }

    /** System.out/err without their line buffering and charset layer: raw bytes, flushed at once. */
    private static OutputStream rawOut(PrintStream stream) {
        return new OutputStream() {
            @Override
            public void write(int b) {
                stream.write(b);
            }

            @Override
            public void write(byte[] b, int off, int len) {
                stream.write(b, off, len);
            }

            @Override
            public void flush() {
                stream.flush();
            }
        };
    }

    @Command(name = "attach", mixinStandardHelpOptions = true,
            description = "Attach to a running container's main process (its output, and with -i its stdin).")
    static final class Attach extends ClientCommand implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "CONTAINER-ID")
        String id;

        @Option(names = {"-i", "--stdin"}, description = "Send STDIN to the container (it must have been created with stdin).")
        boolean stdin;

        @Option(names = {"-t", "--tty"}, description = "The container has a TTY: put the local terminal in raw mode.")
        boolean tty;

        @Option(names = "--transport", paramLabel = "spdy|websocket", defaultValue = "spdy",
                description = "Streaming transport (default: ${DEFAULT-VALUE}).")
        String transport;

        @Override
        public Integer call() {
            var t = transport(transport);
            var request = AttachRequest.newBuilder().setContainerId(id).setStdin(stdin).setTty(tty).setStdout(true)
                    .setStderr(!tty).build();
            String url = withClient(c -> c.runtime(stub -> stub.attach(request)).getUrl());
            return remoteCommand(url, stdin, tty, t);
        }
    }

    @Command(name = "port-forward", mixinStandardHelpOptions = true,
            description = "Forward local ports to ports inside a pod's network namespace, until interrupted.")
    static final class PortForward extends ClientCommand implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "POD-ID")
        String podId;

        @Parameters(index = "1..*", arity = "1..*", paramLabel = "[LOCAL:]REMOTE")
        List<String> mappings;

        @Option(names = "--address", defaultValue = "127.0.0.1", description = "Local address to listen on (default: ${DEFAULT-VALUE}).")
        String address;

        @Option(names = "--transport", paramLabel = "spdy|websocket", defaultValue = "spdy",
                description = "Streaming transport (default: ${DEFAULT-VALUE}).")
        String transport;

        record Mapping(int local, int remote) {
        }

        @Override
        public Integer call() throws Exception {
            var t = transport(transport);
            var parsed = new ArrayList<Mapping>();
            for (String m : mappings) {
                parsed.add(parse(m));
            }
            var ports = parsed.stream().map(Mapping::remote).distinct().toList();
            var request = PortForwardRequest.newBuilder().setPodSandboxId(podId).addAllPort(ports).build();
            try (var client = new StreamClient(true)) {
                // SPDY: one session carries every connection. WebSocket: one URL (token) per connection.
                StreamClient.SpdyPortForward spdy = t == Transport.SPDY ? client.portForwardSpdy(URI.create(
                        withClient(c -> c.runtime(stub -> stub.portForward(request)).getUrl()))) : null;
                var listeners = new ArrayList<ServerSocket>();
                for (var m : parsed) {
                    var listener = new ServerSocket();
                    listener.bind(new InetSocketAddress(InetAddress.getByName(address), m.local()), 50);
                    listeners.add(listener);
                    var out = spec.commandLine().getOut();
                    out.println("Forwarding from " + address + ":" + listener.getLocalPort() + " -> " + m.remote());
                    out.flush();
                }
                var threads = new ArrayList<Thread>();
                for (int i = 0; i < parsed.size(); i++) {
                    var listener = listeners.get(i);
                    int remote = parsed.get(i).remote();
                    threads.add(Thread.ofVirtual().start(() -> accept(listener, remote, client, spdy, request)));
                }
                for (var th : threads) {
                    th.join();
                }
            } catch (StreamClientException e) {
                throw new CliException(e.getMessage());
            }
            return 0;
        }

        private void accept(ServerSocket listener, int remote, StreamClient client, StreamClient.SpdyPortForward spdy,
                            PortForwardRequest request) {
            while (!listener.isClosed()) {
                Socket local;
                try {
                    local = listener.accept();
                } catch (IOException e) {
                    return;
                }
                Thread.ofVirtual().start(() -> {
                    try (local) {
                        StreamClient.Forwarded remoteConn;
                        if (spdy != null) {
                            remoteConn = spdy.connect(remote);
                        } else {
                            String url = withClient(c -> c.runtime(stub -> stub.portForward(request)).getUrl());
                            remoteConn = client.portForwardWebSocket(URI.create(url), List.of(remote)).getFirst();
                        }
                        splice(local, remoteConn);
                    } catch (Exception e) {
                        var err = spec.commandLine().getErr();
                        err.println("bollard: port-forward " + local.getLocalPort() + " -> " + remote + ": " + e.getMessage());
                        err.flush();
                    }
                });
            }
        }

        private void splice(Socket local, StreamClient.Forwarded remote) throws Exception {
            var up = Thread.ofVirtual().start(() -> {
                try {
                    local.getInputStream().transferTo(remote.output());
                    remote.closeOutput();
                } catch (IOException e) {
                    remote.close();
                }
            });
            try (InputStream in = remote.input()) {
                in.transferTo(local.getOutputStream());
                local.shutdownOutput();
            } catch (IOException e) {
                // one side went away
            }
            String error = remote.error();
            if (!error.isEmpty()) {
                var err = spec.commandLine().getErr();
                err.println("bollard: port-forward: " + error);
                err.flush();
            }
            up.interrupt();
            remote.close();
        }

        static Mapping parse(String text) {
            String[] parts = text.split(":");
            try {
                if (parts.length == 1) {
                    int p = port(parts[0]);
                    return new Mapping(p, p);
                }
                if (parts.length == 2) {
                    return new Mapping(parts[0].isEmpty() ? 0 : port(parts[0]), port(parts[1]));
                }
            } catch (NumberFormatException e) {
                // below
            }
            throw new CliException("port mapping \"" + text + "\": expected [LOCAL:]REMOTE with ports 1..65535");
        }

        private static int port(String s) {
            int p = Integer.parseInt(s);
            if (p < 1 || p > 65535) {
                throw new NumberFormatException();
            }
            return p;
        }
    }

    static Transport transport(String text) {
        try {
            return Transport.parse(text);
        } catch (IllegalArgumentException e) {
            throw new CliException(e.getMessage());
        }
    }
}
