// The engine a caller holds: one loaded model plus the request scheduler in front of its session.
import { basename, resolve } from 'node:path';
import type { BeforeRequest, FillRequest, FillResult, InfillRequest, InfillResult } from './api';
import { before } from './before';
import { fill } from './fill';
import { infill } from './infill';
import { type LoadOptions, type Model, openModel } from './model';
import { Scheduler } from './scheduler';

export class Engine {
  private readonly scheduler = new Scheduler();

  constructor(readonly model: Model) {}

  /** Display name: the model directory's name. */
  get name(): string {
    return basename(resolve(this.model.dir));
  }

  infill(request: InfillRequest): Promise<InfillResult> {
    return this.scheduler.run(request, (signal) => infill(this.model, { ...request, signal }));
  }

  fill(request: FillRequest): Promise<FillResult> {
    return this.scheduler.run(request, (signal) => fill(this.model, { ...request, signal }));
  }

  before(request: BeforeRequest): Promise<InfillResult> {
    return this.scheduler.run(request, (signal) => before(this.model, { ...request, signal }));
  }

  /** Cancels pending requests, waits for the running one to stop, then frees the session. */
  async dispose(): Promise<void> {
    this.scheduler.close();
    await this.scheduler.idle();
    await this.model.dispose();
  }
}

/** Loads and validates a model directory (see openModel) and puts a scheduler in front of it. */
export async function loadModel(dir: string, options: LoadOptions = {}): Promise<Engine> {
  return new Engine(await openModel(dir, options));
}
