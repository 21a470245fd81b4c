import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Arrays;
import java.util.List;
import ops.teleportha.agent.tls.ValidateCommand;

/**
 * tests/ansible/test_tls_validator_parity.py's Java side: `node-agent validate` (ValidateCommand.run, exactly what
 * `java -jar node-agent.jar validate` runs) over every case of a manifest in one JVM. A manifest line is the case's
 * name, then its arguments, tab-separated; the output line is the name, the exit code and stdout (the --json
 * document) or stderr, tab-separated. Run as a source file: java -cp node-agent.jar ParityValidate.java MANIFEST.
 */
public final class ParityValidate {
    public static void main(String[] args) throws Exception {
        for (String line : Files.readAllLines(Path.of(args[0]), StandardCharsets.UTF_8)) {
            String[] fields = line.split("\t", -1);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            List<String> argv = Arrays.asList(fields).subList(1, fields.length);
            int rc = ValidateCommand.run(
                    argv,
                    new PrintStream(out, true, StandardCharsets.UTF_8),
                    new PrintStream(err, true, StandardCharsets.UTF_8),
                    Clock.systemUTC());
            String text = (rc == 0 || out.size() > 0 ? out : err).toString(StandardCharsets.UTF_8);
            System.out.println(fields[0] + "\t" + rc + "\t" + text.strip().replace("\n", " "));
        }
    }
}
