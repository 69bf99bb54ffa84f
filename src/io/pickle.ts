/**
 * PyTorch pickle checkpoints (.ckpt, .bin, .pt, .pth) are out of scope: unpickling can run
 * arbitrary code and needs a Python object model. These helpers recognise them so that users get
 * a clear error with the way out (convert to safetensors) instead of a confusing parse failure.
 */

/** File name endings of PyTorch pickle checkpoints. */
export const PICKLE_EXTENSIONS: readonly string[] = ['.ckpt', '.bin', '.pt', '.pth', '.pkl'];

/** True when `path` ends in a pickle checkpoint extension. */
export function isPickleName(path: string): boolean {
  const p = path.toLowerCase();
  return PICKLE_EXTENSIONS.some((e) => p.endsWith(e));
}

/** True when the first bytes are a torch zip archive ("PK\x03\x04") or a raw pickle (protocol 2+ opcode 0x80). */
export function looksLikePickle(first: Uint8Array): boolean {
  if (first.length >= 4 && first[0] === 0x50 && first[1] === 0x4b && first[2] === 0x03 && first[3] === 0x04)
    return true;
  return first.length >= 2 && first[0] === 0x80 && first[1] >= 2 && first[1] <= 5;
}

/** The message for a pickle checkpoint at `path` (without the path prefix). */
export function pickleMessage(): string {
  return (
    'this is a PyTorch pickle checkpoint; pickle files (.ckpt/.bin/.pt/.pth) are out of scope (unpickling can run arbitrary code). ' +
    'Convert it to safetensors first: a single-file checkpoint with torch.load + safetensors.torch.save_file (then `ptp convert`), ' +
    'a diffusers folder with DiffusionPipeline.from_pretrained(dir).save_pretrained(dir, safe_serialization=True)'
  );
}

/** An Error naming `path` as an unsupported pickle checkpoint. */
export function pickleError(path: string): Error {
  return new Error(`${path}: ${pickleMessage()}`);
}
