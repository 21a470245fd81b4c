package ops.teleportha.inventory.http;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import ops.teleportha.config.ConfigException;
import ops.teleportha.inventory.config.SecretFile;

/**
 * The shared bearer token, read from a file that only its owner may change ({@link SecretFile}). The file is
 * re-read when its modification time changes, so a token can be rotated without a restart; a new file that
 * breaks the rules keeps the last good token. The token itself is never logged.
 */
public final class BearerToken {
    private final Path file;
    private final SecretFile rules;
    private volatile FileTime loadedAt;
    private volatile byte[] token;

    /** @throws ConfigException when the file breaks {@link SecretFile}'s rules or holds too short a token */
    public BearerToken(Path file) {
        this(file, SecretFile.forThisProcess());
    }

    public BearerToken(Path file, SecretFile rules) {
        this.file = file;
        this.rules = rules;
        load();
    }

    private synchronized void load() {
        try {
            rules.check("serve.token_file", file);
            FileTime mtime = Files.getLastModifiedTime(file);
            String text = Files.readString(file, StandardCharsets.UTF_8).trim();
            if (text.length() < 16) {
                throw new ConfigException(
                        "serve.token_file: " + file
                                + " holds a token shorter than 16 characters; write a long random token, e.g. openssl rand -hex 32");
            }
            token = text.getBytes(StandardCharsets.UTF_8);
            loadedAt = mtime;
        } catch (IOException e) {
            throw new ConfigException("serve.token_file: cannot read " + file + ": " + e.getMessage());
        }
    }

    /** True when the Authorization header carries the current token (constant-time comparison). */
    public boolean matches(String authorizationHeader) {
        refreshIfChanged();
        if (authorizationHeader == null || !authorizationHeader.startsWith("Bearer ")) {
            return false;
        }
        byte[] given = authorizationHeader.substring("Bearer ".length()).trim().getBytes(StandardCharsets.UTF_8);
        return MessageDigest.isEqual(given, token);
    }

    private void refreshIfChanged() {
        try {
            if (!Files.getLastModifiedTime(file).equals(loadedAt)) {
                load();
            }
        } catch (IOException | ConfigException e) {
            // Keep the last good token: a half-written or vanished file must not open the service.
        }
    }
}
