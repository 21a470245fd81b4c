package ops.teleportha.inventory.hostkeys;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * An instance's SSH host keys, read from what cloud-init printed on its console at first boot.
 *
 * <p>Only the hypervisor writes an instance's console output ({@code ec2:GetConsoleOutput}), so it is the one
 * place an ASG instance's host keys can be learnt from without trusting the network or a tag; AWS documents it as
 * the way to verify a new instance's host key. cloud-init ({@code cc_keys_to_console},
 * {@code write-ssh-key-fingerprints}) prints the public keys between
 * {@code -----BEGIN SSH HOST KEY KEYS-----} and {@code -----END SSH HOST KEY KEYS-----} at every boot. Every key
 * line is checked (a known type whose base64 blob names the same type); a console that shows two different key
 * sets (someone printed a block of their own after boot) is refused rather than guessed at.
 */
public final class ConsoleHostKeys {
    static final String BEGIN = "-----BEGIN SSH HOST KEY KEYS-----";
    static final String END = "-----END SSH HOST KEY KEYS-----";
    private static final Set<String> TYPES =
            Set.of("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa");
    private static final Pattern BLOB = Pattern.compile("[A-Za-z0-9+/]{20,8192}={0,2}");

    /** What was read: the keys ("type base64", sorted, deduplicated) or why there are none. */
    public record Result(List<String> keys, String problem) {
        public boolean found() {
            return problem == null;
        }
    }

    private ConsoleHostKeys() {}

    public static Result parse(String console) {
        if (console == null || console.isEmpty()) {
            return new Result(
                    List.of(),
                    "the console output is empty (the instance has not booted, or EC2 has not"
                            + " posted its output yet)");
        }
        List<Set<String>> blocks = new ArrayList<>();
        Set<String> current = null;
        for (String raw : console.split("\n", -1)) {
            String line = raw.strip();
            if (line.equals(BEGIN)) {
                current = new LinkedHashSet<>();
                continue;
            }
            if (line.equals(END)) {
                if (current != null) {
                    blocks.add(current);
                }
                current = null;
                continue;
            }
            if (current == null || line.isEmpty()) {
                continue;
            }
            String[] f = line.split(" +");
            String problem = f.length < 2 ? "is not '<type> <base64>'" : check(f[0], f[1]);
            if (problem != null) {
                return new Result(List.of(), "a host key line in the console " + problem);
            }
            current.add(f[0] + " " + f[1]);
        }
        if (blocks.isEmpty()) {
            return new Result(
                    List.of(),
                    "the console output has no " + BEGIN + " block (cloud-init prints it at"
                            + " boot; is cloud-init's keys-to-console step disabled?)");
        }
        Set<String> first = blocks.get(0);
        for (Set<String> b : blocks) {
            if (!b.equals(first)) {
                return new Result(List.of(), "the console output shows different host key sets; refusing to choose");
            }
        }
        if (first.isEmpty()) {
            return new Result(List.of(), "the console's host key block is empty");
        }
        return new Result(first.stream().sorted().toList(), null);
    }

    /** {@code null} when {@code type blob} is a well-formed public key of a type we accept. */
    static String check(String type, String blob) {
        if (!TYPES.contains(type)) {
            return "has an unknown key type (want one of "
                    + String.join(", ", TYPES.stream().sorted().toList()) + ")";
        }
        if (!BLOB.matcher(blob).matches()) {
            return "is not base64";
        }
        byte[] bytes;
        try {
            bytes = Base64.getDecoder().decode(blob);
        } catch (IllegalArgumentException e) {
            return "is not base64";
        }
        // The SSH wire format starts with the key type as a length-prefixed string (RFC 4253, 6.6).
        ByteBuffer b = ByteBuffer.wrap(bytes);
        if (b.remaining() < 4) {
            return "is too short to be a key";
        }
        int n = b.getInt();
        if (n <= 0 || n > b.remaining()) {
            return "is not an SSH public key";
        }
        byte[] name = new byte[n];
        b.get(name);
        if (!new String(name, StandardCharsets.US_ASCII).equals(type)) {
            return "names one type and holds another";
        }
        return null;
    }
}
