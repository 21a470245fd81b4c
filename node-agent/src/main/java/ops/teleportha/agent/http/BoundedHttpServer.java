package ops.teleportha.agent.http;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import ops.teleportha.agent.Log;
import ops.teleportha.agent.Threads;

/**
 * A small HTTP/1.1 server for GET-style endpoints whose answers are computed from memory, that no client can
 * stall. One selector thread does all the network I/O without blocking: it accepts, reads each request head
 * under a deadline and within a size limit, and writes each answer under a deadline. Only a complete request
 * reaches the fixed pool of workers, so a client that sends half a request (or reads its answer slowly) holds
 * a connection slot until its deadline and never a thread. Connections over the cap are answered 503 and
 * closed at once, never queued. Every connection is closed after one answer ({@code Connection: close}).
 *
 * <p>The JDK's {@code com.sun.net.httpserver}, which this replaces, reads request heads on its executor's
 * threads with no read timeout by default and no limit on header bytes: with the agent's single executor
 * thread, one idle client stalled /metrics and /healthz for everyone.
 */
final class BoundedHttpServer implements AutoCloseable {
    /**
     * @param requestReadTimeout from accept to the last byte of the request head (and body): a deadline for the
     *     whole request, not per read, so a client that trickles bytes is cut off too
     * @param responseWriteTimeout from a complete request to the last byte of the answer
     * @param lingerTimeout how long, after the answer, the server waits for the client to close (see
     *     {@link State#LINGERING})
     * @param maxHeadBytes request line plus headers; more is answered 431
     * @param maxBodyBytes a declared Content-Length above this is answered 413 (the endpoints take no body)
     * @param maxConnections open connections, idle or not; more are answered 503 and closed
     * @param workers threads that compute answers
     */
    record Limits(
            Duration requestReadTimeout,
            Duration responseWriteTimeout,
            Duration lingerTimeout,
            int maxHeadBytes,
            int maxBodyBytes,
            int maxConnections,
            int workers) {}

    /** What a handler answers; HEAD answers get the headers of the GET answer and no body. */
    record Response(int status, String contentType, String body, Map<String, String> headers) {
        Response(int status, String contentType, String body) {
            this(status, contentType, body, Map.of());
        }
    }

    interface Handler {
        /** @param path the request target without its query string */
        Response handle(String method, String path);
    }

    private enum State {
        /** Reading the request head, then any body, before {@code deadline}. */
        READING,
        /** A worker computes the answer; interest in nothing. */
        HANDLING,
        /** Writing the answer before {@code deadline}. */
        WRITING,
        /**
         * Answer sent and output shut down; reading (and dropping) what the client still sends until it closes
         * or {@code deadline}. Closing at once with unread bytes in the socket would make the kernel send a
         * reset, and the client could lose the answer (an error answer to an over-long request, above all).
         */
        LINGERING
    }

    private static final class Conn {
        final SocketChannel channel;
        SelectionKey key;
        State state = State.READING;
        long deadline;
        ByteBuffer in;
        int scanned;
        long bodyLeft;
        Request pending;
        boolean head;
        ByteBuffer out;

        Conn(SocketChannel channel) {
            this.channel = channel;
        }
    }

    private static final byte[] NO_BODY = new byte[0];

    private final Limits limits;
    private final Handler handler;
    private final ServerSocketChannel listener;
    private final Selector selector;
    private final ThreadPoolExecutor workers;
    private final Queue<Runnable> fromWorkers = new ConcurrentLinkedQueue<>();
    private final Thread loop;
    private volatile boolean closed;
    private int open;

    /** Binds at once, so that a port in use fails here; serves after {@link #start}. */
    BoundedHttpServer(InetSocketAddress bind, Limits limits, Handler handler) throws IOException {
        this.limits = limits;
        this.handler = handler;
        this.selector = Selector.open();
        this.listener = ServerSocketChannel.open();
        try {
            listener.bind(bind, 64);
            listener.configureBlocking(false);
            listener.register(selector, SelectionKey.OP_ACCEPT);
        } catch (IOException e) {
            listener.close();
            selector.close();
            throw e;
        }
        // The queue holds at most one request per open connection, so it never refuses one in practice.
        workers = new ThreadPoolExecutor(
                limits.workers(),
                limits.workers(),
                60,
                TimeUnit.SECONDS,
                new ArrayBlockingQueue<>(limits.maxConnections()),
                Threads.daemon("http-worker"));
        workers.allowCoreThreadTimeOut(true); // an idle agent keeps no worker thread
        loop = Threads.daemon("http").newThread(this::run);
    }

    void start() {
        loop.start();
    }

    int port() {
        return ((InetSocketAddress) listener.socket().getLocalSocketAddress()).getPort();
    }

    @Override
    public void close() {
        closed = true;
        selector.wakeup();
        if (loop.getState() == Thread.State.NEW) {
            closeAll();
        } else {
            try {
                loop.join(5000); // the loop closes every channel on its way out
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        workers.shutdownNow();
    }

    private void run() {
        try {
            while (!closed) {
                selector.select(this::ready, selectTimeout());
                for (Runnable r; (r = fromWorkers.poll()) != null; ) {
                    r.run();
                }
                expire();
            }
        } catch (IOException | RuntimeException e) {
            if (!closed) {
                Log.error("http", "server loop stopped: " + e);
            }
        } finally {
            closeAll();
        }
    }

    private void ready(SelectionKey key) {
        if (key.channel() == listener) {
            accept();
            return;
        }
        Conn c = (Conn) key.attachment();
        try {
            if (c.state == State.WRITING && key.isWritable()) {
                write(c);
            } else if (c.state == State.READING && key.isReadable()) {
                read(c);
            } else if (c.state == State.LINGERING && key.isReadable()) {
                linger(c);
            }
        } catch (IOException e) {
            close(c); // reset by the client, or similar: nothing left to tell it
        } catch (RuntimeException e) {
            // A bug with one connection must not stop the loop that serves all of them.
            Log.error("http", "dropped a connection: " + e);
            close(c);
        }
    }

    private void accept() {
        while (true) {
            SocketChannel ch;
            try {
                ch = listener.accept();
            } catch (IOException e) {
                Log.warn("http", "accept failed: " + e.getMessage());
                return;
            }
            if (ch == null) {
                return;
            }
            if (open >= limits.maxConnections()) {
                refuse(ch);
                continue;
            }
            Conn c = new Conn(ch);
            try {
                ch.configureBlocking(false);
                c.key = ch.register(selector, SelectionKey.OP_READ, c);
            } catch (IOException e) {
                closeQuietly(ch);
                continue;
            }
            open++;
            c.deadline = System.nanoTime() + limits.requestReadTimeout().toNanos();
            c.in = ByteBuffer.allocate(limits.maxHeadBytes());
        }
    }

    /**
     * Refused, not queued: a queue would let idle connections delay everyone behind them. One write of a short
     * answer, which a fresh socket's buffer always takes whole, then close: a refused connection holds nothing.
     */
    private static void refuse(SocketChannel ch) {
        try {
            ch.configureBlocking(false);
            ch.write(ByteBuffer.wrap(encode(
                    new Response(503, "text/plain; charset=utf-8", "too many connections; try again\n"), false)));
        } catch (IOException e) {
            // it gets the close alone
        }
        closeQuietly(ch);
    }

    private void read(Conn c) throws IOException {
        if (c.bodyLeft > 0) {
            readBody(c);
            return;
        }
        int n = c.channel.read(c.in);
        if (n < 0) {
            close(c); // gave up before finishing its request
            return;
        }
        int end = headEnd(c);
        if (end < 0) {
            if (!c.in.hasRemaining()) {
                respond(c, 431, "request line and headers exceed " + limits.maxHeadBytes() + " bytes\n", false);
            }
            return;
        }
        Request r;
        try {
            r = Request.parse(new String(c.in.array(), 0, end, StandardCharsets.ISO_8859_1), limits.maxBodyBytes());
        } catch (Request.Refused e) {
            respond(c, e.status, e.getMessage() + "\n", false);
            return;
        }
        c.head = r.method().equals("HEAD");
        c.bodyLeft = r.contentLength() - (c.in.position() - end); // body bytes already read count
        if (c.bodyLeft > 0) {
            c.pending = r; // the head is parsed: the buffer now only swallows the body, which no endpoint reads
            return;
        }
        dispatch(c, r);
    }

    private void readBody(Conn c) throws IOException {
        c.in.clear();
        int n = c.channel.read(c.in);
        if (n < 0) {
            close(c);
            return;
        }
        c.bodyLeft -= n;
        if (c.bodyLeft <= 0) {
            dispatch(c, c.pending);
        }
    }

    /** Index just past the blank line that ends the head (CRLF CRLF, or bare LF LF as RFC 9112 §2.2 allows), or -1. */
    private static int headEnd(Conn c) {
        byte[] b = c.in.array();
        int limit = c.in.position();
        for (int i = Math.max(0, c.scanned - 3); i < limit; i++) {
            if (b[i] != '\n') {
                continue;
            }
            if (i >= 1 && b[i - 1] == '\n') {
                return i + 1;
            }
            if (i >= 2 && b[i - 1] == '\r' && b[i - 2] == '\n') {
                return i + 1;
            }
        }
        c.scanned = limit;
        return -1;
    }

    private void dispatch(Conn c, Request r) {
        c.state = State.HANDLING;
        c.key.interestOps(0);
        c.deadline = System.nanoTime() + limits.responseWriteTimeout().toNanos();
        try {
            workers.execute(() -> {
                Response resp;
                try {
                    resp = handler.handle(r.method(), r.path());
                } catch (RuntimeException e) {
                    Log.error("http", r.method() + " " + r.path() + " failed: " + e);
                    resp = new Response(500, "text/plain; charset=utf-8", "internal error\n");
                }
                byte[] bytes = encode(resp, c.head);
                fromWorkers.add(() -> send(c, bytes));
                selector.wakeup();
            });
        } catch (RejectedExecutionException e) {
            respond(c, 503, "busy; try again\n", false);
        }
    }

    private void respond(Conn c, int status, String body, boolean head) {
        send(c, encode(new Response(status, "text/plain; charset=utf-8", body), head));
    }

    private void send(Conn c, byte[] bytes) {
        if (!c.key.isValid()) {
            return; // closed meanwhile, at its deadline or by the client
        }
        c.state = State.WRITING;
        c.in = null;
        c.out = ByteBuffer.wrap(bytes);
        c.deadline = System.nanoTime() + limits.responseWriteTimeout().toNanos();
        try {
            write(c);
        } catch (IOException e) {
            close(c);
        }
    }

    private void write(Conn c) throws IOException {
        c.channel.write(c.out);
        if (c.out.hasRemaining()) {
            c.key.interestOps(SelectionKey.OP_WRITE);
            return;
        }
        c.out = null;
        c.channel.shutdownOutput();
        c.state = State.LINGERING;
        c.in = ByteBuffer.allocate(1024);
        c.deadline = System.nanoTime() + limits.lingerTimeout().toNanos();
        c.key.interestOps(SelectionKey.OP_READ);
    }

    private void linger(Conn c) throws IOException {
        c.in.clear();
        if (c.channel.read(c.in) < 0) {
            close(c);
        }
    }

    /** Closes connections past their deadline; a request still being read gets a 408 if its socket takes it. */
    private void expire() {
        long now = System.nanoTime();
        for (SelectionKey key : selector.keys()) {
            if (key.attachment() instanceof Conn c && key.isValid() && now - c.deadline >= 0) {
                if (c.state == State.READING) {
                    try {
                        c.channel.write(ByteBuffer.wrap(encode(
                                new Response(408, "text/plain; charset=utf-8", "request not received in time\n"),
                                false)));
                    } catch (IOException e) {
                        // it gets the close alone
                    }
                }
                close(c);
            }
        }
    }

    private long selectTimeout() {
        long now = System.nanoTime();
        long next = Long.MAX_VALUE;
        for (SelectionKey key : selector.keys()) {
            if (key.attachment() instanceof Conn c && key.isValid()) {
                next = Math.min(next, Math.max(0, c.deadline - now));
            }
        }
        return next == Long.MAX_VALUE ? 0 : Math.max(1, TimeUnit.NANOSECONDS.toMillis(next) + 1);
    }

    private void close(Conn c) {
        if (c.key != null && c.key.isValid()) {
            c.key.cancel();
            open--;
        }
        closeQuietly(c.channel);
    }

    private void closeAll() {
        if (!selector.isOpen()) {
            return;
        }
        for (SelectionKey key : selector.keys()) {
            closeQuietly(key.channel());
        }
        closeQuietly(listener);
        closeQuietly(selector);
    }

    private static void closeQuietly(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception ignored) {
            // closing anyway
        }
    }

    static byte[] encode(Response r, boolean head) {
        byte[] body = r.body() == null ? NO_BODY : r.body().getBytes(StandardCharsets.UTF_8);
        StringBuilder h = new StringBuilder(160)
                .append("HTTP/1.1 ")
                .append(r.status())
                .append(' ')
                .append(reasonPhrase(r.status()))
                .append("\r\nContent-Type: ")
                .append(r.contentType())
                .append("\r\nContent-Length: ")
                .append(body.length)
                .append("\r\nConnection: close\r\n");
        r.headers().forEach((k, v) -> h.append(k).append(": ").append(v).append("\r\n"));
        h.append("\r\n");
        byte[] headBytes = h.toString().getBytes(StandardCharsets.ISO_8859_1);
        if (head) {
            return headBytes;
        }
        byte[] all = new byte[headBytes.length + body.length];
        System.arraycopy(headBytes, 0, all, 0, headBytes.length);
        System.arraycopy(body, 0, all, headBytes.length, body.length);
        return all;
    }

    private static String reasonPhrase(int status) {
        return switch (status) {
            case 200 -> "OK";
            case 400 -> "Bad Request";
            case 404 -> "Not Found";
            case 405 -> "Method Not Allowed";
            case 408 -> "Request Timeout";
            case 411 -> "Length Required";
            case 413 -> "Content Too Large";
            case 431 -> "Request Header Fields Too Large";
            case 500 -> "Internal Server Error";
            case 503 -> "Service Unavailable";
            case 505 -> "HTTP Version Not Supported";
            default -> "Status " + status;
        };
    }

    /** The request line and the two headers that matter here; everything else in the head is ignored. */
    record Request(String method, String path, long contentLength) {
        static final class Refused extends Exception {
            final int status;

            Refused(int status, String message) {
                super(message);
                this.status = status;
            }
        }

        static Request parse(String head, int maxBody) throws Refused {
            String[] lines = head.split("\r?\n");
            String[] parts = lines[0].split(" ", -1);
            if (parts.length != 3 || !parts[0].matches("[A-Z]{1,16}") || parts[1].isEmpty()) {
                throw new Refused(400, "malformed request line");
            }
            if (!parts[2].equals("HTTP/1.1") && !parts[2].equals("HTTP/1.0")) {
                throw new Refused(505, "only HTTP/1.0 and HTTP/1.1");
            }
            String target = parts[1];
            if (!target.startsWith("/")) {
                throw new Refused(400, "the request target must be a path");
            }
            int q = target.indexOf('?');
            String path = q < 0 ? target : target.substring(0, q);
            long length = 0;
            boolean seenLength = false;
            for (int i = 1; i < lines.length; i++) {
                String line = lines[i];
                if (line.isEmpty()) {
                    continue;
                }
                int colon = line.indexOf(':');
                if (colon <= 0 || line.charAt(0) == ' ' || line.charAt(0) == '\t') {
                    throw new Refused(400, "malformed header line");
                }
                String name = line.substring(0, colon).toLowerCase(Locale.ROOT);
                String value = line.substring(colon + 1).trim();
                if (name.equals("transfer-encoding")) {
                    throw new Refused(411, "no request body is accepted in chunks; send Content-Length");
                }
                if (name.equals("content-length")) {
                    long l;
                    try {
                        l = value.matches("[0-9]{1,18}") ? Long.parseLong(value) : -1;
                    } catch (NumberFormatException e) {
                        l = -1;
                    }
                    if (l < 0 || (seenLength && l != length)) {
                        throw new Refused(400, "malformed Content-Length");
                    }
                    seenLength = true;
                    length = l;
                }
            }
            if (length > maxBody) {
                throw new Refused(413, "request body over " + maxBody + " bytes");
            }
            return new Request(parts[0], path, length);
        }
    }
}
