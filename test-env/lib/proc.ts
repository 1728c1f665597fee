// Small process, port and file helpers for the harness: the lab's (the demo uses them too).
export * from "../../packages/server/src/lab/proc.js";
