/**
 * imagescript, loaded on first use. Its module initialisation loads a native codec (needing
 * --allow-ffi), so importing it eagerly would make every `import "facekit/mod.ts"` need that
 * permission even when no image is ever decoded.
 * @module
 */

// Full specifier so the module works without the import map (workers, URL imports).
// deno-lint-ignore no-import-prefix
type ImageScript = typeof import("npm:imagescript@1.3.1");

let loading: Promise<ImageScript> | null = null;

/** The imagescript module (imported once, on the first call). */
export function imagescript(): Promise<ImageScript> {
  // deno-lint-ignore no-import-prefix
  loading ??= import("npm:imagescript@1.3.1");
  return loading;
}
