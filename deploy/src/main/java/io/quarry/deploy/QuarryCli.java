package io.quarry.deploy;

import picocli.CommandLine.Command;
import picocli.CommandLine;

/** The {@code quarry} launcher. Exit codes: 0 the run completed, 1 it failed or was stopped, 2 bad usage or config. */
@Command(
    name = "quarry",
    mixinStandardHelpOptions = true,
    versionProvider = QuarryCli.Version.class,
    description = "Quarry: a distributed, actor-based training cluster for the JVM.",
    subcommands = {
      LocalCommand.class,
      ConfigCommand.class,
      CoordinatorNodeCommand.class,
      WorkerNodeCommand.class,
      K8sCommand.class,
      ClientCommands.Submit.class,
      ClientCommands.Status.class,
      ClientCommands.Stop.class,
      ClientCommands.Runs.class,
      DashboardCommand.class,
      ResumeCommand.class,
      PlotCommand.class,
      CommandLine.HelpCommand.class
    })
public final class QuarryCli implements Runnable {
  public static final int EXIT_COMPLETED = 0;
  public static final int EXIT_FAILED = 1;
  public static final int EXIT_USAGE = 2;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  public static void main(String[] args) {
    // Nothing is downloaded at run time: libtorch comes from the native jar on the class path.
    if (System.getProperty("ai.djl.offline") == null) System.setProperty("ai.djl.offline", "true");
    // Initialise logging before any actor system starts, so no early log call is queued and replayed.
    org.slf4j.LoggerFactory.getLogger(QuarryCli.class);
    System.exit(run(args));
  }

  /** Runs the launcher and returns its exit code (tests call this instead of {@link #main}). */
  public static int run(String... args) {
    CommandLine commandLine = new CommandLine(new QuarryCli());
    commandLine.setExitCodeExceptionMapper(e -> EXIT_USAGE);
    commandLine.setUsageHelpWidth(120);
    commandLine.getSubcommands().get("local").getCommandSpec().usageMessage().footer(LocalCommand.keysHelp());
    return commandLine.execute(args);
  }

  @Override
  public void run() {
    throw new CommandLine.ParameterException(spec.commandLine(), "a command is required (try: quarry local --help)");
  }

  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String version = QuarryCli.class.getPackage().getImplementationVersion();
      return new String[] {"quarry " + (version == null ? "dev" : version)};
    }
  }
}
