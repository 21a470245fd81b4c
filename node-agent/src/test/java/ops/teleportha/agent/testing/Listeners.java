package ops.teleportha.agent.testing;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/** Plain TCP listeners on 127.0.0.1 that misbehave in the ways peers do. */
public final class Listeners {
    private Listeners() {}

    /** A port nothing listens on: bound once, then closed. */
    public static int closedPort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** Completes TCP connects (the kernel does that from the backlog) but never reads or writes. */
    public static ServerSocket silent() throws IOException {
        return new ServerSocket(0, 200, InetAddress.getLoopbackAddress());
    }

    /** Answers every connection with an HTTP error in plain text and closes: open, but not TLS. */
    public static ServerSocket plainHttp() throws IOException {
        ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread t = new Thread(
                () -> {
                    while (!server.isClosed()) {
                        try (Socket s = server.accept();
                                OutputStream out = s.getOutputStream()) {
                            out.write("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
                                    .getBytes(StandardCharsets.US_ASCII));
                            out.flush();
                        } catch (IOException e) {
                            // closed
                        }
                    }
                },
                "plain-http");
        t.setDaemon(true);
        t.start();
        return server;
    }
}
