/**
 * Error codes that cross the wire between agent and server. Stable, UPPER_SNAKE, never reused.
 * Directory (LDAP) outcomes get their own codes with the password operations (issue 5).
 */
export const WIRE_ERRORS = {
  PROTOCOL_VERSION: "The peer speaks another protocol version.",
  MALFORMED_MESSAGE: "The message is not valid JSON or does not match its schema.",
  UNKNOWN_MESSAGE: "The message type is not known.",
  UNEXPECTED_MESSAGE: "The message is not allowed in the link's current state.",
  AUTH_FAILED: "The agent's signature did not verify, or the agent is unknown.",
  AGENT_REVOKED: "The agent was revoked by an administrator.",
  ENROLL_TOKEN_INVALID: "The enrollment token is unknown, used or expired.",
  SYNC_REJECTED: "A sync batch was refused (unknown directory, too large, or invalid entries).",
  RATE_LIMITED: "The peer sent too many messages in a short time; the link is closed.",
  INTERNAL: "Unexpected error on the peer.",
} as const;

export type WireErrorCode = keyof typeof WIRE_ERRORS;
export const WIRE_ERROR_CODES = Object.keys(WIRE_ERRORS) as WireErrorCode[];
