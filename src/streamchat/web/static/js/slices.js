// Work too long for one task, cut into slices: a job is a function called with a deadline
// (performance.now() time) that does what fits before it and returns true once it is done. Jobs
// run in order, each slice in its own task (posted through a MessageChannel, so the browser
// paints and handles input between two slices); `run(budget)` does what fits in `budget` ms now.

/** @typedef {(deadline: number) => boolean} Job does what fits before `deadline`; true once done */

const BUDGET = 8; // ms per slice: well under the 50 ms of a long task

export class Slicer {
  /** @param {() => void} [onIdle] called when the last job is done */
  constructor(onIdle = () => {}) {
    /** @type {Job[]} */
    this.jobs = [];
    this.posted = false;
    this.onIdle = onIdle;
    this.channel = new MessageChannel();
    this.channel.port1.onmessage = () => {
      this.posted = false;
      this.run(BUDGET);
    };
  }

  get busy() {
    return this.jobs.length > 0;
  }

  /** @param {Job} job */
  add(job) {
    this.jobs.push(job);
  }

  /** Forget every job (the thread was drawn again). */
  clear() {
    this.jobs = [];
  }

  /** Work for up to `budget` ms now; what is left goes on in later tasks. */
  /** @param {number} budget ms */
  run(budget) {
    const deadline = performance.now() + budget;
    do {
      if (this.jobs.length && this.jobs[0](deadline)) this.jobs.shift();
    } while (this.jobs.length && performance.now() < deadline);
    if (this.jobs.length) {
      if (!this.posted) {
        this.posted = true;
        this.channel.port2.postMessage(0);
      }
    } else {
      this.onIdle();
    }
  }
}
