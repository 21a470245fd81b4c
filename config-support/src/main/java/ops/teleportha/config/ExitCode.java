package ops.teleportha.config;

/** The exit codes of both binaries, so that systemd units, Ansible and scripts can tell failures apart. */
public final class ExitCode {
    /** Done, or valid. */
    public static final int OK = 0;
    /** The command was right but the work failed: AWS, rendering, a port in use, a file that cannot be written. */
    public static final int FAILURE = 1;
    /** Bad arguments, an invalid config file, or (for {@code validate}) an invalid certificate pair. */
    public static final int INVALID = 2;

    private ExitCode() {}
}
