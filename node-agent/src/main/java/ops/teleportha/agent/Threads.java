package ops.teleportha.agent;

import java.util.concurrent.ThreadFactory;

/** Named daemon threads: none of the agent's background work may keep the JVM alive past shutdown. */
public final class Threads {
    private Threads() {}

    public static ThreadFactory daemon(String name) {
        return r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        };
    }
}
