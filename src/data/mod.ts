/**
 * The image data sets' public API, for the training command:
 *
 *     const data = await loadDataset("cifar10", { dataDir, zcaRegularisation });
 *     const split = splitTrain(data.train.labels, { labels: 4000, dataSeed, validation: 0 });
 *     const stream = openStream(data.train, split, {
 *       labelledBatch: 32, unlabelledBatch: 128, seed, augment: augmentFor("cifar10"),
 *     });
 *     const batch = await stream.next(); // batch.labelled.images, .labels, .shape; batch.unlabelled
 *     stream.close();
 * @module
 */
export { DEFAULT_ZCA_REGULARISATION, loadDataset } from "./datasets.ts";
export type { Dataset, ImageSet, LoadOptions, SvhnScaling } from "./datasets.ts";
export { splitTrain, subset } from "./split.ts";
export type { Split, SplitOptions } from "./split.ts";
export { augmentFor, openDiskStream, openStream } from "./stream.ts";
export type { BatchPart, BatchStream, HostBatch, StreamOptions, StreamStats } from "./stream.ts";
export { diskRecords, readDiskLabels, readDiskRows } from "./disk.ts";
export type { DiskRecords } from "./disk.ts";
export { ensureFiles, verifyDataset } from "./cache.ts";
export { DATA_DIR_ENV, type DatasetName, DATASETS } from "./catalog.ts";
export { dataKernels } from "./native.ts";
