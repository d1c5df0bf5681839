package io.shardwise.cli;

import io.grpc.StatusRuntimeException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.PrintWriter;

/** The {@code shardwise} command line: gRPC client commands, local {@code eval}/{@code generate}, and the local-stack {@code demo}. */
@Command(name = "shardwise", mixinStandardHelpOptions = true, version = "shardwise 0.1.0",
        description = "Compress language models as a stream of shard-sized jobs.",
        subcommands = {SubmitCommand.class, WatchCommand.class, GetCommand.class, ListCommand.class, CancelCommand.class,
                TechniquesCommand.class, EvalCommand.class, GenerateCommand.class, DemoCommand.class, StackCommand.class, SynthCommand.class, ConvertCommand.class,
                CommandLine.HelpCommand.class})
public final class ShardwiseCli implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "missing command");
    }

    /** The command line with the error handling every entry point (main, tests) shares. */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new ShardwiseCli());
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        cl.setExecutionExceptionHandler(ShardwiseCli::handle);
        return cl;
    }

    /** Errors print as one line naming what is at fault; gRPC errors with their status code. */
    private static int handle(Exception e, CommandLine cl, CommandLine.ParseResult parsed) {
        PrintWriter err = cl.getErr();
        Throwable root = e;
        if (root instanceof StatusRuntimeException s) {
            err.println("shardwise " + cl.getCommandName() + ": " + s.getStatus().getCode() + ": "
                    + (s.getStatus().getDescription() == null ? "" : s.getStatus().getDescription()));
            if (s.getStatus().getCode() == io.grpc.Status.Code.UNAVAILABLE) {
                err.println("  (is the gateway running? start one with 'shardwise stack' or set --server / SHARDWISE_SERVER)");
            }
        } else {
            err.println("shardwise " + cl.getCommandName() + ": " + (e.getMessage() == null ? e.toString() : e.getMessage()));
            if (System.getenv("SHARDWISE_DEBUG") != null) e.printStackTrace(err);
        }
        err.flush();
        return 1;
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }
}
