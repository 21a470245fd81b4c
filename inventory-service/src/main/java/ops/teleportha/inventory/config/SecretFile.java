package ops.teleportha.inventory.config;

import com.sun.security.auth.module.UnixSystem;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;
import ops.teleportha.config.ConfigException;

/**
 * The rules for a file holding a secret ({@code serve.token_file}, {@code serve.tls.key_file}): owned by the
 * service's user or root, writable by nobody else, readable by no other user outside the owner's group. Anyone
 * who could write the file could choose the token or the key; anyone who could read it could impersonate.
 */
public final class SecretFile {
    private final long serviceUid;

    private SecretFile(long serviceUid) {
        this.serviceUid = serviceUid;
    }

    /** The rules for files this process reads. */
    public static SecretFile forThisProcess() {
        return new SecretFile(new UnixSystem().getUid());
    }

    /** The rules as if the service ran as {@code uid}: for tests. */
    public static SecretFile forUid(long uid) {
        return new SecretFile(uid);
    }

    /**
     * @param key the config key naming the file, for messages ({@code serve.token_file})
     * @throws ConfigException naming the key, the file, what is wrong and the command that fixes it
     */
    public void check(String key, Path file) {
        PosixFileAttributes attrs;
        long owner;
        try {
            attrs = Files.readAttributes(file, PosixFileAttributes.class);
            owner = ((Number) Files.getAttribute(file, "unix:uid")).longValue();
        } catch (IOException | UnsupportedOperationException e) {
            throw new ConfigException(key + ": cannot read " + file + ": " + e.getMessage());
        }
        Set<PosixFilePermission> perms = attrs.permissions();
        String mode = PosixFilePermissions.toString(perms);
        if (perms.contains(PosixFilePermission.GROUP_WRITE) || perms.contains(PosixFilePermission.OTHERS_WRITE)) {
            throw new ConfigException(key + ": " + file + " is writable by "
                    + (perms.contains(PosixFilePermission.OTHERS_WRITE) ? "every user" : "its group")
                    + "; run chmod 0600 (or 0640) on it (mode now " + mode + ")");
        }
        if (perms.contains(PosixFilePermission.OTHERS_READ)) {
            throw new ConfigException(key + ": " + file
                    + " is readable by every user; run chmod 0600 (or 0640) on it (mode now " + mode + ")");
        }
        if (owner != serviceUid && owner != 0) {
            throw new ConfigException(key + ": " + file + " is owned by "
                    + attrs.owner().getName() + " (uid " + owner
                    + "), neither the service's user (uid " + serviceUid + ") nor root; run chown root (or chown "
                    + "the service's user) on it");
        }
    }
}
