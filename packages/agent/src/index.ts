/**
 * The Latchkey agent as a library (the `latchkey-agent` program is cli/main.ts): the running agent,
 * its link to the server, enrollment, the directory dialects and the sync engine.
 */
export { Agent, type AgentEvents, type AgentOptions } from "./agent.js";
export { AgentConfigError, loadAgentConfig, readBindPassword } from "./config/load.js";
export { type AgentConfig, type AgentDirectoryConfig, agentConfigSchema } from "./config/schema.js";
export { filetimeToEpochMs, guidToUuid, uuidToGuid } from "./directory/ad/mapping.js";
export { openDirectorySession } from "./directory/open.js";
export { generalizedTimeToMs } from "./directory/openldap/mapping.js";
export type { DirectorySession, DirectoryUser, Membership } from "./directory/types.js";
export { EnrollError, type EnrollOptions, type EnrollResult, enrollAgent } from "./keys/enroll.js";
export { type AgentIdentity, generateAgentKeys, KeyFileError, readKeyFile } from "./keys/key-file.js";
export { backoffDelay, backoffWindow } from "./link/backoff.js";
export { type Clock, systemClock } from "./link/clock.js";
export { AgentLink, type AgentLinkOptions, type LinkEvents, type LinkState } from "./link/link.js";
export { type AgentLogger, createLogger, memoryLogger, silentLogger } from "./log.js";
export { type PassProgress, type PassResult, SyncEngine } from "./sync/engine.js";
export { LinkSyncSink, type SyncAck, type SyncBatch, type SyncSink } from "./sync/sink.js";
export { defaultStatePath, StateStore } from "./sync/state.js";
export { agentVersion } from "./version.js";
