// Dividing a key space of jobs among the healthy members of a ring, with `hashring` (ketama consistent
// hashing over member IDs). This fits work like compaction jobs or tenant sweeps: any member can do any
// job, moving a job costs only a redo, and there are no replicas — what is needed is that every member
// computes the same owner from the same membership, and that one member joining or leaving moves only
// ~1/n of the jobs. Data placement (ingesters) uses the token ring instead: see kv-ring.ts for why.

import HashRing from 'hashring';
import type { Ring } from './kv-ring';

export interface JobOwnershipOptions {
  ring: Pick<Ring, 'instances' | 'isHealthy'>;
  /** This member's instance ID. */
  instanceId: string;
  /** Virtual nodes per member (hashring's default 40 → 160 points per member). */
  vnodes?: number;
}

export class JobOwnership {
  private members = '';
  private hr: HashRing | undefined;

  constructor(private readonly opts: JobOwnershipOptions) {}

  /** The healthy ACTIVE member IDs the key space is divided among, sorted. */
  activeMembers(): string[] {
    return this.opts.ring
      .instances()
      .filter((i) => this.opts.ring.isHealthy(i, 'write'))
      .map((i) => i.id)
      .sort();
  }

  /** The member that owns `jobKey`, or undefined when no member is healthy. */
  owner(jobKey: string): string | undefined {
    const members = this.activeMembers();
    if (members.length === 0) return undefined;
    const sig = members.join('\u0000');
    if (sig !== this.members || !this.hr) {
      this.hr = new HashRing(members, 'md5', { 'vnode count': this.opts.vnodes ?? 40 });
      this.members = sig;
    }
    return this.hr.get(jobKey);
  }

  /** Whether this member owns `jobKey` (Tempo's compactor Owns(job)). */
  owns(jobKey: string): boolean {
    return this.owner(jobKey) === this.opts.instanceId;
  }
}
