package ops.teleportha.agent.tls;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import ops.teleportha.agent.Json;
import ops.teleportha.agent.config.ConfigLoader;
import ops.teleportha.config.ExitCode;
import ops.teleportha.config.GoDuration;

/**
 * {@code node-agent validate}: the rotator's own {@link PairValidator} on a pair of files, with no config file
 * and no running agent, so that whoever issues a pair can check it before dropping it. Prints one line per
 * problem (or one OK line), or with {@code --json} one machine-readable document; never key material.
 */
public final class ValidateCommand {
    static final String USAGE = "usage: java -jar node-agent.jar validate --cert FILE --key FILE [--names a,b,...]"
            + " [--trust-bundle FILE] [--min-validity DURATION] [--json]";

    private record Options(
            Path cert, Path key, List<String> names, Path trustBundle, Duration minValidity, boolean json) {}

    private ValidateCommand() {}

    /** @return 0 when the pair is valid, 2 when it is not or the arguments are wrong */
    public static int run(List<String> args, PrintStream out, PrintStream err, Clock clock) {
        Options o;
        try {
            o = parse(args);
        } catch (IllegalArgumentException e) {
            err.println("node-agent: validate: " + e.getMessage());
            err.println(USAGE);
            return ExitCode.INVALID;
        }
        List<RejectedCandidate> problems = new ArrayList<>();
        byte[] cert = read(o.cert(), "--cert", RejectReason.MISSING_CERT, problems);
        byte[] key = read(o.key(), "--key", RejectReason.MISSING_KEY, problems);
        PairValidator.Report report = null;
        if (cert != null && key != null) {
            PairValidator validator = new PairValidator(
                    o.names(),
                    o.minValidity(),
                    o.trustBundle(),
                    clock,
                    new PairValidator.Terms(
                            o.cert().toString(), o.key().toString(), "--min-validity", "--names", "--trust-bundle"));
            report = validator.check(new CandidateReader.RawPair(cert, key), null);
            problems.addAll(report.problems());
        }
        X509Certificate leaf = report == null ? null : report.leaf();
        if (o.json()) {
            out.print(json(o, leaf, problems));
        } else if (problems.isEmpty()) {
            out.println(o.cert() + ": ok: sha256 " + PemPair.fingerprint(leaf) + ", not after "
                    + leaf.getNotAfter().toInstant() + ", names " + String.join(", ", names(leaf)));
        } else {
            for (RejectedCandidate p : problems) {
                err.println("node-agent: " + p.reason().label() + ": " + p.getMessage());
            }
        }
        return problems.isEmpty() ? ExitCode.OK : ExitCode.INVALID;
    }

    private static Options parse(List<String> args) {
        Path cert = null;
        Path key = null;
        List<String> names = List.of();
        Path trust = Path.of(ConfigLoader.DEFAULT_TRUST_BUNDLE);
        Duration minValidity = GoDuration.parse(ConfigLoader.DEFAULT_MIN_VALIDITY);
        boolean json = false;
        List<String> seen = new ArrayList<>();
        for (int i = 0; i < args.size(); i++) {
            String flag = args.get(i);
            if (seen.contains(flag)) {
                throw new IllegalArgumentException(flag + " is given twice");
            }
            seen.add(flag);
            if (flag.equals("--json")) {
                json = true;
                continue;
            }
            if (!List.of("--cert", "--key", "--names", "--trust-bundle", "--min-validity")
                    .contains(flag)) {
                throw new IllegalArgumentException("unknown argument '" + flag + "'");
            }
            if (i + 1 >= args.size()) {
                throw new IllegalArgumentException(flag + " needs a value");
            }
            String value = args.get(++i);
            switch (flag) {
                case "--cert" -> cert = Path.of(value);
                case "--key" -> key = Path.of(value);
                case "--trust-bundle" -> trust = Path.of(value);
                case "--names" -> names = names(value);
                default -> minValidity = minValidity(value);
            }
        }
        if (cert == null || key == null) {
            throw new IllegalArgumentException("--cert FILE and --key FILE are required");
        }
        return new Options(cert, key, names, trust, minValidity, json);
    }

    private static List<String> names(String value) {
        List<String> names = Arrays.stream(value.split(","))
                .map(String::trim)
                .filter(n -> !n.isEmpty())
                .toList();
        if (names.isEmpty()) {
            throw new IllegalArgumentException(
                    "--names needs at least one name, such as teleport.example.com,*.teleport.example.com");
        }
        for (String n : names) {
            String problem = ConfigLoader.nameProblem(n);
            if (problem != null) {
                throw new IllegalArgumentException("--names: '" + n + "' " + problem);
            }
        }
        return names;
    }

    private static Duration minValidity(String value) {
        Duration d;
        try {
            d = GoDuration.parse(value);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--min-validity: " + e.getMessage());
        }
        if (d.isNegative()) {
            throw new IllegalArgumentException("--min-validity: must be >= 0");
        }
        return d;
    }

    /** The file's bytes, or {@code null} after recording why they cannot be used, with the rotator's limits. */
    private static byte[] read(Path file, String flag, RejectReason missing, List<RejectedCandidate> problems) {
        try {
            if (!Files.isRegularFile(file)) {
                problems.add(
                        Files.exists(file)
                                ? new RejectedCandidate(
                                        RejectReason.NOT_A_REGULAR_FILE,
                                        file + ": is not a regular file (" + flag + ")")
                                : new RejectedCandidate(missing, file + ": no such file (" + flag + ")"));
                return null;
            }
            long size = Files.size(file);
            if (size == 0) {
                problems.add(new RejectedCandidate(RejectReason.EMPTY_FILE, file + ": is empty"));
                return null;
            }
            if (size > ConfigLoader.DEFAULT_MAX_FILE_BYTES) {
                problems.add(new RejectedCandidate(
                        RejectReason.TOO_LARGE,
                        file + ": is " + size + " bytes, more than the agent's default" + " tls.max_file_bytes ("
                                + ConfigLoader.DEFAULT_MAX_FILE_BYTES + ")"));
                return null;
            }
            return Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            problems.add(new RejectedCandidate(missing, file + ": no such file (" + flag + ")"));
        } catch (IOException e) {
            problems.add(new RejectedCandidate(missing, file + ": cannot read (" + flag + "): " + e.getMessage()));
        }
        return null;
    }

    private static List<String> names(X509Certificate leaf) {
        try {
            return SubjectNames.of(leaf).all();
        } catch (CertificateParsingException e) {
            return List.of();
        }
    }

    private static String json(Options o, X509Certificate leaf, List<RejectedCandidate> problems) {
        StringBuilder b = new StringBuilder("{\"valid\":")
                .append(problems.isEmpty())
                .append(",\"cert\":")
                .append(Json.quote(o.cert().toString()))
                .append(",\"key\":")
                .append(Json.quote(o.key().toString()))
                .append(",\"fingerprint_sha256\":")
                .append(leaf == null ? "null" : Json.quote(PemPair.fingerprint(leaf)))
                .append(",\"not_before\":")
                .append(Json.time(leaf == null ? null : leaf.getNotBefore().toInstant()))
                .append(",\"not_after\":")
                .append(Json.time(leaf == null ? null : leaf.getNotAfter().toInstant()))
                .append(",\"names\":")
                .append(Json.strings(leaf == null ? List.of() : names(leaf)))
                .append(",\"problems\":[");
        for (int i = 0; i < problems.size(); i++) {
            if (i > 0) {
                b.append(',');
            }
            b.append("{\"reason\":")
                    .append(Json.quote(problems.get(i).reason().label()))
                    .append(",\"detail\":")
                    .append(Json.quote(problems.get(i).getMessage()))
                    .append('}');
        }
        return b.append("]}\n").toString();
    }
}
