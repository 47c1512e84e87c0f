/**
 * The data worker: owns a BatchProducer and answers each "next" message with
 * a batch whose buffers are transferred (not copied) to the main thread; a
 * "skip" message moves the producer past batches without making them.
 * @module
 */
import { UserError } from "../util/errors.ts";
import { dataKernels } from "./native.ts";
import { BatchProducer, type ProducerConfig } from "./producer.ts";

interface Port {
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
  close(): void;
}
const port = self as unknown as Port;
let producer: BatchProducer | undefined;
let failed: { message: string; user: boolean } | undefined;
let ready: Promise<void> = Promise.resolve();

port.onmessage = (e: MessageEvent) => {
  const msg = e.data as
    | { type: "init"; config: ProducerConfig }
    | { type: "next" }
    | { type: "skip"; count: number }
    | { type: "close" };
  if (msg.type === "init") {
    ready = dataKernels().then((k) => {
      producer = new BatchProducer(msg.config, k);
    }).catch((err) => {
      failed = { message: (err as Error).message, user: err instanceof UserError };
    });
  } else if (msg.type === "skip") {
    ready = ready.then(() => {
      if (failed) return;
      try {
        producer!.skip(msg.count);
      } catch (err) {
        failed = { message: (err as Error).message, user: err instanceof UserError };
      }
    });
  } else if (msg.type === "next") {
    ready = ready.then(() => {
      if (failed) return port.postMessage({ type: "error", ...failed });
      try {
        const b = producer!.next();
        port.postMessage({ type: "batch", batch: b }, [
          b.labelled.images.buffer,
          b.labelled.labels.buffer,
          b.labelled.index.buffer,
          ...(b.unlabelled ? [b.unlabelled.images.buffer, b.unlabelled.index.buffer] : []),
        ]);
      } catch (err) {
        failed = { message: (err as Error).message, user: err instanceof UserError };
        port.postMessage({ type: "error", ...failed });
      }
    });
  } else {
    ready.then(() => {
      producer?.close();
      port.close();
    });
  }
};
