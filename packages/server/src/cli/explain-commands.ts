/**
 * Registers `latchkey explain`, `latchkey admin timeline` and `latchkey admin explain-user`. The
 * commands' code (and pptxgenjs) is imported only when one of them runs.
 */
import { type Command, Option } from "commander";

function example(...lines: string[]): string {
  return `\nExample${lines.length > 1 ? "s" : ""}:\n${lines.map((l) => `  $ ${l}`).join("\n")}\n`;
}

export function registerExplainCommands(program: Command, admin: Command, out: (s: string) => void): void {
  program
    .command("explain")
    .description(
      "Explain a flow step by step for the tenant's current configuration: what the person sees, what happens in the background (server, store, mail/SMS provider, agent, directory), and under which conditions.",
    )
    .argument("[flow]", "reset, unlock, change or registration", "reset")
    .addOption(
      new Option("-f, --format <format>", "output format")
        .choices(["text", "markdown", "json", "mermaid", "svg", "pptx"])
        .default("text"),
    )
    .option("-o, --out <file>", "write to a file (required for pptx)")
    .addOption(
      new Option("--user-kind <kind>", "explain for a cloud or a synced account")
        .choices(["cloud", "synced"])
        .default("cloud"),
    )
    .option(
      "--admin",
      "explain for an administrator's account (2 gates, no security questions, admins alerted)",
    )
    .option("--tenant <slug>", "tenant (default: the configured one, or the only one)")
    .addHelpText(
      "after",
      example(
        "latchkey explain reset --user-kind synced",
        "latchkey explain reset --format pptx --out reset.pptx --user-kind synced --admin",
        "latchkey explain unlock --format svg --out unlock.svg",
      ),
    )
    .action(async (flow: string | undefined, _o, cmd: Command) => {
      const { explainCommand } = await import("./explain.js");
      await explainCommand(flow, cmd.optsWithGlobals(), out);
    });

  admin
    .command("timeline")
    .description(
      "Print the timeline of one real flow: each step as it happened (the explain step ids), its time from the start, its duration (the agent's and directory's legs included) and its result.",
    )
    .argument("<flow-id>", "the flow's id (audit events carry it as flow_id)")
    .option("--json", "print JSON")
    .addHelpText("after", example("latchkey admin timeline 3m1yQbVY5kD0rYq1xZ2p7w"))
    .action(async (flowId: string, _o, cmd: Command) => {
      const { timelineCommand } = await import("./explain.js");
      await timelineCommand(flowId, cmd.optsWithGlobals(), out);
    });

  admin
    .command("explain-user")
    .description(
      "Why can't this user reset? Runs the reset flow's eligibility checks for one account, read-only (nothing is sent, no counter is touched), and prints each check with pass/fail and what would fix it.",
    )
    .argument("<name>", "user name, UPN or email address")
    .option("--tenant <slug>", "tenant (default: the configured one, or the only one)")
    .option("--json", "print JSON")
    .addHelpText(
      "after",
      example("latchkey admin explain-user alice", "latchkey admin explain-user bob@example.com --json"),
    )
    .action(async (name: string, _o, cmd: Command) => {
      const { explainUserCommand } = await import("./explain.js");
      await explainUserCommand(name, cmd.optsWithGlobals(), out);
    });
}
