/**
 * What the Latchkey server and agent share: message schemas with a version, wire error codes and
 * (with the password operations) the sealing of secrets. No I/O.
 */
export * from "./directory-errors.js";
export * from "./directory-transport.js";
export * from "./messages.js";
export * from "./sealing.js";
export * from "./version.js";
export * from "./wire-errors.js";
