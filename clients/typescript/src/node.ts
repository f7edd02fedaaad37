/// <reference types="node" />
// Node only ("ig-client/node"): the main entry stays free of Node so it runs in browsers and Workers too.
import { createHash } from "node:crypto";
import { open, rename, rm } from "node:fs/promises";

import type { IgClient } from "./client.js";
import { IgIntegrityError, IgNetworkError } from "./errors.js";

export interface SaveOptions {
  /** Called as bytes are written: `received` of `total` (the artifact's size). */
  onProgress?: (received: number, total: number) => void;
  signal?: AbortSignal;
  /** How many times a dropped connection is resumed from where it stopped (`Range`); 3 by default. */
  resumes?: number;
}

export interface SavedArtifact {
  path: string;
  size: number;
  sha256: string;
}

const DEFAULT_RESUMES = 3;

/**
 * Download an artifact to `path`, streaming: the bytes go to `<path>.part`, a dropped connection resumes with
 * `Range` where it stopped, and the file takes its name only once its sha256 is the artifact's (IgIntegrityError
 * otherwise, and nothing is left behind).
 */
export async function saveArtifact(
  client: IgClient,
  artifactId: string,
  path: string,
  options: SaveOptions = {},
): Promise<SavedArtifact> {
  const abortable = options.signal ? { signal: options.signal } : {};
  const { size, sha256 } = await client.artifacts.get(artifactId, abortable);
  const partial = `${path}.part`;
  const file = await open(partial, "w");
  let hash = createHash("sha256");
  let written = 0;
  try {
    for (let resumes = options.resumes ?? DEFAULT_RESUMES; ; resumes--) {
      const response = await client.artifacts.content(artifactId, { offset: written, ...abortable });
      if (written > 0 && response.status !== 206) {
        // Range was not honoured (a proxy dropped it?): the answer is the whole file, so start over.
        await file.truncate(0);
        hash = createHash("sha256");
        written = 0;
      }
      try {
        const reader = (response.body ?? new Blob([]).stream()).getReader();
        for (let read = await reader.read(); !read.done; read = await reader.read()) {
          await file.write(read.value, 0, read.value.length, written);
          hash.update(read.value);
          written += read.value.length;
          if (written > size) throw new IgIntegrityError(`artifact ${artifactId}: more than its ${size} bytes`);
          options.onProgress?.(written, size);
        }
        break;
      } catch (error) {
        if (error instanceof IgIntegrityError || options.signal?.aborted) throw error;
        if (resumes <= 0) throw new IgNetworkError(response.url, error);
      }
    }
  } catch (error) {
    await file.close();
    await rm(partial, { force: true });
    throw error;
  }
  await file.close();
  const got = hash.digest("hex");
  if (got !== sha256 || written !== size) {
    await rm(partial, { force: true });
    throw new IgIntegrityError(
      `artifact ${artifactId}: got ${written} bytes with sha256 ${got}, not ${size} bytes with ${sha256}`,
    );
  }
  await rename(partial, path);
  return { path, size, sha256 };
}
