/**
 * The OpenAPI 3.1 document of the reset API, generated from the zod schemas the routes validate
 * with. Served at /api/v1/openapi.json and written to docs/openapi.json (a test keeps it current).
 */
import { z } from "zod";
import { ERRORS } from "../../core/errors.js";
import {
  challengeBody,
  identifyBody,
  passwordBody,
  passwordCheckBody,
  unlockBody,
  verifyBody,
} from "./api-schemas.js";
import { RESET_STATES } from "./states.js";

function body(schema: z.ZodType) {
  return {
    required: true,
    content: { "application/json": { schema: z.toJSONSchema(schema, { io: "input" }) } },
  };
}

const flowResponse = {
  description: "The flow's current view: its state and what the person is shown next.",
  content: { "application/json": { schema: { $ref: "#/components/schemas/FlowEnvelope" } } },
};

const errorResponse = {
  description: "An error with a stable code and a message id.",
  content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
};

const flowIdParam = { name: "flowId", in: "path", required: true, schema: { type: "string", maxLength: 64 } };
const csrfHeader = {
  name: "x-csrf-token",
  in: "header",
  required: true,
  schema: { type: "string" },
  description: "The flow's CSRF token (from the flow view).",
};

function step(summary: string, schema: z.ZodType | null) {
  return {
    post: {
      summary,
      parameters: [flowIdParam, csrfHeader],
      ...(schema ? { requestBody: body(schema) } : {}),
      responses: { "200": flowResponse, "4XX": errorResponse },
    },
  };
}

export function resetOpenApi(): Record<string, unknown> {
  return {
    openapi: "3.1.0",
    info: {
      title: "Latchkey self-service password reset API",
      version: "1",
      description:
        "Every call after the first needs the HttpOnly cookie `lk_reset` set by POST /api/v1/reset/flows " +
        "(it binds the flow to the browser) and the flow's CSRF token in `x-csrf-token`.",
    },
    paths: {
      "/api/v1/reset/flows": {
        post: { summary: "Start a reset flow", responses: { "201": flowResponse, "429": errorResponse } },
      },
      "/api/v1/reset/flows/{flowId}": {
        get: {
          summary: "Read the flow's current view",
          parameters: [flowIdParam],
          responses: { "200": flowResponse },
        },
      },
      "/api/v1/reset/flows/{flowId}/identify": step(
        "Give the user name and the captcha solution",
        identifyBody,
      ),
      "/api/v1/reset/flows/{flowId}/challenge": step(
        "Choose a verification method and start it",
        challengeBody,
      ),
      "/api/v1/reset/flows/{flowId}/verify": step(
        "Answer the current challenge: a code, security answers, or a passkey assertion",
        verifyBody,
      ),
      "/api/v1/reset/flows/{flowId}/password/check": {
        post: {
          summary: "Live verdicts of the password rules for a candidate (nothing is stored)",
          parameters: [flowIdParam, csrfHeader],
          requestBody: body(passwordCheckBody),
          responses: { "200": { description: "Per-rule verdicts." } },
        },
      },
      "/api/v1/reset/flows/{flowId}/password": step(
        "Set the new password (a directory that outlives the wait answers state `pending`: the person is emailed the result)",
        passwordBody,
      ),
      "/api/v1/reset/flows/{flowId}/unlock": step(
        "Unlock the account without changing its password (state new_password, when the view has unlockOffered)",
        unlockBody,
      ),
      "/api/v1/reset/flows/{flowId}/contact-admin": step("Ask the tenant's administrators for help", null),
    },
    components: {
      schemas: {
        FlowEnvelope: {
          type: "object",
          properties: {
            flow: {
              type: "object",
              required: ["state", "flowId", "csrf", "expiresAt"],
              properties: {
                state: { enum: [...RESET_STATES] },
                flowId: { type: "string" },
                csrf: { type: "string" },
                expiresAt: { type: "integer", description: "Epoch milliseconds." },
                unlockOffered: {
                  type: "boolean",
                  description:
                    "new_password: the account is locked and may be unlocked without a new password.",
                },
                resetUnlocks: { type: "boolean", description: "new_password: a new password also unlocks." },
                unlocked: { type: "boolean", description: "completed: the reset also unlocked the account." },
                kind: {
                  enum: ["reset", "unlock"],
                  description: "pending and failed: which operation is still running, or failed.",
                },
                messageId: { type: "string", description: "failed: why, as a message id." },
              },
            },
          },
        },
        Error: {
          type: "object",
          properties: {
            error: {
              type: "object",
              properties: {
                code: { enum: Object.keys(ERRORS) },
                messageId: { type: "string" },
              },
            },
          },
        },
      },
    },
  };
}
