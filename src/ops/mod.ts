/**
 * Every op, each declared once: shape rule, forward (a backend call) and
 * backward rule side by side.
 * @module
 */
export * from "./linalg.ts";
export * from "./elementwise.ts";
export * from "./conv.ts";
export * from "./norm.ts";
export * from "./loss.ts";
export * from "./random.ts";
