/** The agent⇄server protocol version. A peer refuses a message whose `v` it does not speak. */
export const PROTOCOL_VERSION = 1 as const;
/** The WebSocket path agents dial. */
export const AGENT_LINK_PATH = "/api/v1/agents/link";
/** The HTTP path agents enroll at. */
export const AGENT_ENROLL_PATH = "/api/v1/agents/enroll";
