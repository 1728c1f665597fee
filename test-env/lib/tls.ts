// A throwaway CA and one server certificate per run: the lab's (the demo makes its own the same way).
export { makeTls, type TlsFiles } from "../../packages/server/src/lab/tls.js";
