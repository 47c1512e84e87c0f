/**
 * The paper's tables as `deno task reproduce NAME` runs them: rows of
 * presets (methods), columns (data sets or noise levels), seeds, and the
 * paper's number in each cell (../shared/paper.md).
 * @module
 */
import type { Table } from "./registry.ts";

const images = [
  { label: "MNIST", dataset: "mnist", args: [] },
  { label: "SVHN", dataset: "svhn", args: [] },
  { label: "CIFAR-10", dataset: "cifar10", args: [] },
];

/** Presets per column of the image tables, as flags. */
const presets = (...names: (string | null)[]) =>
  names.map((n) => n === null ? null : ["--preset", n]);

/** Tables by name. */
export const TABLES: Record<string, Table> = {
  circles: {
    title: "Two circles, test error %",
    columns: [
      { label: "noise 0.01", dataset: "circles", args: ["--noise", "0.01"] },
      { label: "noise 0.06", dataset: "circles", args: ["--noise", "0.06"] },
    ],
    rows: [
      {
        label: "supervised (8 labels)",
        args: ["--preset", "circles-supervised"],
        paper: ["-", "-"],
      },
      {
        label: "VAT eps=0.1",
        args: ["--preset", "circles-vat", "--eps", "0.1"],
        paper: ["0.00 ± 0.00", "24.61 ± 4.58"],
      },
      {
        label: "VAT eps=1.0",
        args: ["--preset", "circles-vat", "--eps", "1.0"],
        paper: ["4.59 ± 5.64", "5.10 ± 4.28"],
      },
      {
        label: "ours lambda=1.0, literal",
        args: ["--preset", "circles-advgen-literal"],
        paper: ["0.00 ± 0.00", "4.75 ± 5.31"],
      },
      {
        label: "ours, our settings",
        args: ["--preset", "circles-advgen"],
        paper: ["0.00 ± 0.00", "4.75 ± 5.31"],
      },
    ],
    seeds: 10,
  },
  ssl: {
    title:
      "Semi-supervised, test error % (MNIST 1000 labels, SVHN 1000, CIFAR-10 4000; no augmentation)",
    columns: images,
    rows: [
      {
        label: "labels only",
        args: [],
        cells: presets("mnist-supervised", "svhn-supervised", "cifar10-supervised"),
        paper: ["-", "-", "-"],
      },
      {
        label: "VAT (plain)",
        args: [],
        cells: presets(null, "svhn-vat", "cifar10-vat"),
        paper: ["-", "5.77 (VAT paper)", "14.87 (VAT paper)"],
      },
      {
        label: "VAT (the paper's row: + EntMin on SVHN, CIFAR-10)",
        args: [],
        cells: presets("mnist-vat", "svhn-vat-entmin", "cifar10-vat-entmin"),
        paper: ["1.27 ± 0.11", "4.28 ± 0.10", "13.15 ± 0.21"],
      },
      {
        label: "ours",
        args: [],
        cells: presets("mnist-advgen", "svhn-advgen", "cifar10-advgen"),
        paper: ["1.17 ± 0.10", "3.93 ± 0.07", "12.97 ± 0.10"],
      },
    ],
    seeds: 3,
  },
  supervised: {
    title: "Supervised with all labels, test error %",
    columns: images,
    rows: [
      {
        label: "supervised only",
        args: [],
        cells: presets("mnist-supervised-all", "svhn-supervised-all", "cifar10-supervised-all"),
        paper: ["1.09 ± 0.02", "2.79 ± 0.08", "6.58 ± 0.10"],
      },
      {
        label: "VAT",
        args: [],
        cells: presets("mnist-vat-all", null, "cifar10-vat-all"),
        paper: ["0.64 ± 0.05", "-", "5.81 ± 0.02"],
      },
      {
        label: "ours",
        args: [],
        cells: presets("mnist-advgen-all", "svhn-advgen-all", "cifar10-advgen-all"),
        paper: ["0.61 ± 0.04", "2.49 ± 0.06", "5.51 ± 0.02"],
      },
    ],
    seeds: 3,
  },
};
