/**
 * The transport of the runtime this build is for. This is Deno's; the npm
 * build replaces this file with one that exports the `node:net` transport.
 *
 * @module
 */

export { denoTransport as defaultTransport } from "./transport_deno.ts";
