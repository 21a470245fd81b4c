package ops.teleportha.config;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/**
 * The version of a binary: the Maven project version, which the build filters into {@code build.properties}
 * beside the binary's main class. {@code --version} prints it and the {@code build_info} metrics export it.
 */
public final class BuildVersion {
    private BuildVersion() {}

    public static String of(Class<?> main) {
        try (InputStream in = main.getResourceAsStream("build.properties")) {
            if (in == null) {
                return "unknown";
            }
            Properties p = new Properties();
            p.load(in);
            return p.getProperty("version", "unknown");
        } catch (IOException e) {
            return "unknown";
        }
    }
}
