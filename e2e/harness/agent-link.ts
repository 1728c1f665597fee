/**
 * An in-process agent for tests that talk to the server over a TestAgentLink: the real
 * OperationHandler answers each op.request, without the `latchkey-agent` program around it
 * (e2e/harness/agent-process.ts runs the program).
 */
import type { OpRequest } from "@latchkey/protocol";
import type { OperationHandler } from "../../packages/agent/src/operations/handler.js";
import type { TestAgentLink } from "../../packages/server/src/directory-link/testing/agent-client.js";

/** The agent's loop: each op.request to the handler, its result back on the link, until the link closes. */
export function answerOperations(link: TestAgentLink, handler: OperationHandler): void {
  void (async () => {
    for (;;) {
      let m: OpRequest;
      try {
        m = await link.next("op.request", 600_000);
      } catch {
        return;
      }
      void handler.handleOperation(m).then((r) => link.send({ type: "op.result", ...r }));
    }
  })();
}
