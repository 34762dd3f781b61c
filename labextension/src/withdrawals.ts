/**
 * What to call when something ends: a comm closes, a kernel goes away, an execution finishes.
 */
export class Withdrawals {
  private readonly all = new Set<() => void>();

  /** Call `withdraw` when this ends; returns what forgets it. */
  add(withdraw: () => void): () => void {
    this.all.add(withdraw);
    return () => this.all.delete(withdraw);
  }

  /** It ended: call each once. */
  run(): void {
    const pending = [...this.all];
    this.all.clear();
    pending.forEach(withdraw => withdraw());
  }
}
