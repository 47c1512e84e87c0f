/**
 * The training methods a run can choose (--method): supervised only, VAT,
 * and the paper's classifier-versus-generator game with its options, the
 * paper's apart from the stabilisers and ablations we tried.
 * @module
 */
import { AdvGen, type AdvGenOptions, LITERAL_ADVGEN } from "../methods/advgen.ts";
import { Supervised } from "../methods/supervised.ts";
import { Vat } from "../methods/vat.ts";
import type { GeneratorOptions, GeneratorOutput } from "../models/generator.ts";
import type { RunConfig } from "./config.ts";
import { UserError } from "../util/errors.ts";
import type { Value } from "../util/options.ts";
import { GENERATORS } from "./models.ts";
import type { AdamSchedule, MethodEntry } from "./registry.ts";
import type { OptionNode } from "./tree.ts";

const ulBatchSize: OptionNode = {
  kind: "int",
  min: 1,
  max: 1e7,
  help: "unlabelled samples per iteration",
};
const weight = (help: string): OptionNode => ({ kind: "number", min: 0, max: 1e6, help });
/** VAT's "EntMin": the entropy of C(x) on the unlabelled batch added to C's loss (0: off). */
const entminWeight: OptionNode = weight(
  "weight of the entropy of C(x) on the unlabelled batch in C's loss (VAT+EntMin: 1; 0: off)",
);

/** Sub-option of the generator output modes that form a step from the decoder's output. */
const gCenter: OptionNode = {
  kind: "bool",
  group: "stabiliser",
  help: "subtract the batch mean of the decoder's output from each step",
};

/** Sub-option of the generator output modes that scale each step to a fixed norm. */
const gRadius: OptionNode = {
  kind: "number",
  min: 0,
  max: 1e6,
  group: "stabiliser",
  help: "L2 norm of each sample's step (VAT's eps)",
};

/** The generator's output modes: the paper's free output, and the stabilisers we tried. */
const gOutput: OptionNode = {
  kind: "choice",
  help: "the generator's output G(x, z)",
  alternatives: {
    free: { help: "the decoder's output itself (the paper)" },
    residual: { group: "stabiliser", help: "x + the decoder's output", options: { gCenter } },
    bounded: {
      group: "stabiliser",
      help: "x + g-bound * tanh(decoder's output)",
      options: {
        gBound: {
          kind: "number",
          min: 0,
          max: 1e6,
          group: "stabiliser",
          help: "largest step per coordinate",
        },
        gCenter,
      },
    },
    normalized: {
      group: "stabiliser",
      help: "x + g-radius * the decoder's output scaled to unit L2 norm per sample",
      options: { gRadius, gCenter },
    },
    latent: {
      group: "stabiliser",
      help:
        "x + g-radius * the unit change dec(c + shift) - dec(c) that a learned shift of the code c makes; the auto-encoder learns L_rec alone (the paper's latent space, taken literally)",
      options: {
        gRadius,
        gShift: {
          kind: "number",
          min: 0,
          max: 1e6,
          group: "stabiliser",
          help: "L2 norm of the code's shift, as a fraction of the code's own norm",
        },
        gCenter,
      },
    },
  },
};

/** The generator options of a run (zDim and the tagged output mode). */
export function generatorOptions(cfg: RunConfig): GeneratorOptions {
  const mode = cfg.string("gOutput") as GeneratorOutput["mode"];
  const output: GeneratorOutput = mode === "free"
    ? { mode }
    : mode === "residual"
    ? { mode, center: cfg.bool("gCenter") }
    : mode === "bounded"
    ? { mode, center: cfg.bool("gCenter"), bound: cfg.number("gBound") }
    : mode === "latent"
    ? {
      mode,
      center: cfg.bool("gCenter"),
      radius: cfg.number("gRadius"),
      shift: cfg.number("gShift"),
    }
    : { mode, center: cfg.bool("gCenter"), radius: cfg.number("gRadius") };
  return { zDim: cfg.number("zDim"), output };
}

/**
 * The paper's method as it states it, as option values: every stabiliser and
 * control off (LITERAL_ADVGEN), G's Adam on the run's schedule.
 */
export const LITERAL_ADVGEN_VALUES: Record<string, Value> = { ...LITERAL_ADVGEN, gSchedule: "run" };

/** Methods by name. */
export const METHODS: Record<string, MethodEntry> = {
  supervised: {
    help: "the labelled samples only: L_nll",
    unlabelled: false,
    build(ctx) {
      const c = ctx.classifier();
      return new Supervised(c, ctx.adam(c.parameters(), ctx.cfg.number("lr")), ctx.average(c));
    },
  },
  vat: {
    help:
      "virtual adversarial training (Miyato et al. 2018): L_nll + beta * KL(C(x) || C(x + r_vadv))",
    unlabelled: true,
    options: {
      ulBatchSize,
      entminWeight,
      beta: weight("weight of the VAT term"),
      eps: { kind: "number", min: 0, max: 1e6, help: "radius of the adversarial perturbation" },
      xi: {
        kind: "number",
        min: 0,
        max: 1e6,
        help: "finite-difference step of the power iteration",
      },
      powerIterations: { kind: "int", min: 1, max: 100, help: "power iterations" },
    },
    build(ctx) {
      const { cfg } = ctx;
      const c = ctx.classifier();
      return new Vat(c, ctx.adam(c.parameters(), cfg.number("lr")), ctx.rng.fork(), {
        eps: cfg.number("eps"),
        xi: cfg.number("xi"),
        iterations: cfg.number("powerIterations"),
        beta: cfg.number("beta"),
        entminWeight: cfg.number("entminWeight"),
      }, ctx.average(c));
    },
  },
  advgen: {
    help:
      "the paper's game: C minimises L_nll + alpha L_adv, G(x, z) maximises alpha L_adv - lambda L_rec",
    unlabelled: true,
    options: {
      ulBatchSize,
      entminWeight,
      alpha: weight("weight of the adversarial term L_adv = KL(C(x) || C(G(x, z)))"),
      lambda: weight("weight of the generator's reconstruction loss L_rec"),
      generator: { kind: "choice", help: "the generator's network", alternatives: GENERATORS },
      zDim: {
        kind: "int",
        min: 1,
        max: 4096,
        help: "size of the generator's noise z (our choice)",
      },
      gLr: {
        kind: "number",
        min: 0,
        max: 10,
        help: "Adam learning rate of the generator (our choice; 0 freezes G: a control)",
      },
      gSchedule: {
        kind: "choice",
        group: "stabiliser",
        help: "the schedule of G's Adam",
        alternatives: {
          run: {
            help: "the run's, as C's: --g-lr until --lr-decay-start, then to 0, beta1 switched",
          },
          constant: {
            group: "stabiliser",
            help: "--g-lr and beta1 0.9 at every step: G keeps its strength while C's rate decays",
          },
        },
      },
      gSteps: {
        kind: "int",
        min: 1,
        max: 100,
        help: "generator steps per classifier step (our choice)",
      },
      gReset: {
        kind: "int",
        min: 0,
        max: 1e9,
        group: "stabiliser",
        help:
          "every N iterations G restarts from its initial weights with fresh Adam moments, so C never trains against a G over N steps old (0: never)",
      },
      stepOrder: {
        kind: "choice",
        help: "the order of the two updates in an iteration (our choice)",
        alternatives: {
          "classifier-first": { help: "C's step, then G's against the updated C" },
          "generator-first": {
            help:
              "G's step, then C's against the updated G: both take C's clean logits from one pass",
          },
        },
      },
      differentiated: {
        kind: "bool",
        help:
          "the encoder learns from L_rec alone, the decoder from G's whole objective (our reading)",
      },
      gOutput,
      gKlWeight: {
        kind: "choice",
        group: "stabiliser",
        help: "how G weighs each sample's KL",
        alternatives: {
          mean: { help: "the mean over samples (the paper's E_x)" },
          relative: {
            group: "stabiliser",
            help: "each sample's KL over (its own + the batch mean), so every sample counts alike",
          },
        },
      },
      gWarmup: {
        kind: "int",
        min: 0,
        max: 1e9,
        group: "stabiliser",
        help: "iterations at the start in which G only learns to reconstruct (C waits)",
      },
      jointBatch: {
        kind: "bool",
        group: "stabiliser",
        help: "C sees x and G(x, z) in one batch, normalised by the same batch-norm statistics",
      },
      gPassStats: {
        kind: "choice",
        group: "stabiliser",
        help: "the batch-norm statistics of C's passes on G(x, z) (without --joint-batch)",
        alternatives: {
          own: { help: "those of the generated batch itself" },
          clean: {
            group: "stabiliser",
            help: "those of C's pass on the clean x of the same step",
          },
          running: { group: "stabiliser", help: "the running statistics, as at test time" },
        },
      },
      consistency: {
        kind: "choice",
        group: "ablation",
        help: "what C is made consistent on",
        alternatives: {
          generator: { help: "G's examples G(x, z) (the paper)" },
          random: {
            group: "ablation",
            help: "a control: x + a random direction with the L2 norm of G's step, per sample",
          },
        },
      },
      consistencyMask: {
        kind: "choice",
        group: "ablation",
        help: "which samples C's consistency term counts",
        alternatives: {
          none: { help: "all (the paper)" },
          agreeing: {
            group: "ablation",
            help:
              "a lead: only those whose G example keeps C's predicted class (G's class-changing examples as wrong labels)",
          },
        },
      },
      gAdvLoss: {
        kind: "choice",
        group: "stabiliser",
        help: "G's adversarial loss",
        alternatives: {
          kl: { help: "maximise the KL, weighed by --g-kl-weight (the paper)" },
          agreement: {
            group: "stabiliser",
            help:
              "minimise -log(1 - sum_k C(x)_k C(G(x, z))_k): non-saturating where C is confident",
          },
        },
      },
      gRecTarget: {
        kind: "number",
        min: 0,
        max: 1e6,
        group: "stabiliser",
        help:
          "0: lambda fixed; else lambda (from --lambda) follows dual ascent so that E||x - G(x, z)||^2 tracks this squared",
      },
      lambdaLr: {
        kind: "number",
        min: 0,
        max: 1e6,
        group: "stabiliser",
        help: "step of lambda's dual ascent (with --g-rec-target)",
      },
      gTarget: {
        kind: "choice",
        group: "stabiliser",
        help: "G's target on x",
        alternatives: {
          classifier: { help: "C's own prediction (the paper)" },
          ema: { group: "stabiliser", help: "the prediction of the moving average of C (--ema)" },
        },
      },
      vatWeight: {
        kind: "number",
        min: 0,
        max: 1e6,
        group: "stabiliser",
        help: "weight of VAT's term in C's loss beside G's (0: off; G and VAT together)",
      },
      vatEps: {
        kind: "number",
        min: 0,
        max: 1e6,
        group: "stabiliser",
        help: "radius of that VAT term",
      },
      reconReduction: {
        kind: "choice",
        group: "ablation",
        help: "how L_rec reduces ||x - G(x, z)||^2",
        alternatives: {
          batchmean: { help: "sum over a sample, mean over the batch (the paper's E_x)" },
          mean: { group: "ablation", help: "mean over every element" },
          sum: { group: "ablation", help: "sum over every element" },
        },
      },
    },
    build(ctx) {
      const { cfg } = ctx;
      const classifier = ctx.classifier();
      const optC = ctx.adam(classifier.parameters(), cfg.number("lr"));
      const generator = ctx.generator(generatorOptions(cfg));
      const optG = ctx.adam(
        generator.parameters(),
        cfg.number("gLr"),
        cfg.string("gSchedule") as AdamSchedule,
      );
      const average = ctx.average(classifier);
      const consistency = cfg.string("consistency") as "generator" | "random";
      const vatWeight = cfg.number("vatWeight");
      const gPassStats = cfg.string("gPassStats") as "own" | "clean" | "running";
      if (cfg.bool("jointBatch") && gPassStats !== "own") {
        throw new UserError(
          `Cannot use --g-pass-stats ${gPassStats} with --joint-batch: there G's examples share x's batch`,
        );
      }
      if (cfg.string("gTarget") === "ema" && !average) {
        throw new UserError("Cannot use --g-target ema: --ema is 0, so C has no moving average");
      }
      return new AdvGen(
        classifier,
        generator,
        optC,
        optG,
        {
          alpha: cfg.number("alpha"),
          lambda: cfg.number("lambda"),
          entminWeight: cfg.number("entminWeight"),
          gSteps: cfg.number("gSteps"),
          gReset: cfg.number("gReset"),
          differentiated: cfg.bool("differentiated"),
          gWarmup: cfg.number("gWarmup"),
          reconReduction: cfg.string("reconReduction") as "batchmean" | "mean" | "sum",
          gKlWeight: cfg.string("gKlWeight") as "mean" | "relative",
          jointBatch: cfg.bool("jointBatch"),
          gPassStats,
          consistency,
          gAdvLoss: cfg.string("gAdvLoss") as "kl" | "agreement",
          gRecTarget: cfg.number("gRecTarget"),
          lambdaLr: cfg.number("lambdaLr"),
          gTarget: cfg.string("gTarget") as "classifier" | "ema",
          vatWeight,
          vatEps: cfg.number("vatEps"),
          stepOrder: cfg.string("stepOrder") as AdvGenOptions["stepOrder"],
          consistencyMask: cfg.string("consistencyMask") as AdvGenOptions["consistencyMask"],
        },
        {
          ...(average ? { average } : {}),
          // Forked only when used, so every other run draws the streams it drew before.
          ...(consistency === "random" ? { controlRng: ctx.rng.fork() } : {}),
          ...(vatWeight > 0 ? { vatRng: ctx.rng.fork() } : {}),
        },
      );
    },
  },
};
