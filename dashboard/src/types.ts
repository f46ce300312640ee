// The API's answers, as documented in docs/api.md, docs/profiles.md and
// docs/analytics.md. Only the fields the pages read are typed.

export interface JourneyFigures {
  journey: string;
  entered: number; in_step: number; exited: number; goal: number; conversion_rate: number;
  sent: number; delivered: number; opened: number; clicked: number; unsubscribed: number;
  bounced: number; open_rate: number; click_rate: number;
  revenue: number; cost: number; romi: number | null;
}
export interface JourneysAnswer { from: string; to: string; journeys: JourneyFigures[] }

export interface StepFigures {
  step: string; type: string | null; channel: string | null;
  entered: number; in_step: number; exited: number; sent: number; delivered: number;
  opened: number; clicked: number; unsubscribed: number; bounced: number;
  open_rate: number; click_rate: number;
}
export interface Arm { arm: string; entered: number; goal: number; conversion_rate: number; revenue: number }
export interface Uplift {
  arm: string; vs: string; absolute: number; relative: number | null; ci95: [number, number];
  z: number; p_value: number; significant: boolean;
}
export interface JourneyAnswer {
  journey: string;
  totals: Omit<JourneyFigures, "journey">;
  steps: StepFigures[];
  funnel: { step: string; count: number; rate: number }[];
  arms: Arm[];
  holdout: { entered: number; goal: number; conversion_rate: number } | null;
  uplift: Uplift[];
}
export interface PathsAnswer { paths: { path: string[]; count: number }[] }
export interface HeatmapAnswer { event: string; tz: string; weekdays: string[]; cells: number[][]; total: number }
export interface IntervalsAnswer {
  from_event: string; to_event: string; count: number;
  buckets: { le_seconds: number | null; count: number }[]; p50_seconds: number | null; p90_seconds: number | null;
}
export interface DistributionAnswer { kind: string; days: { day: string; counts: Record<string, number> }[] }

export interface CatalogJourney {
  name: string; version: number; description: string; owner: string; priority: number;
  paused: boolean; file: string; steps: string[];
}
export interface Status {
  events: number; duplicates: number; dead_letters: number; customers: number;
  process?: { assigned_partitions: number; messages: number };
}
export interface Segment { name: string; condition: string; size: number; description?: string; sample?: string[] }
export interface Lifecycle {
  stages: { stage: string; customers: number }[];
  history: { day: string; stages: Record<string, number> }[];
}
export interface Customer {
  id: string; partition: number; traits: Record<string, unknown>;
  first_seen: string; last_seen: string; events_total: number;
  events: Record<string, { count: number; first_at: string; last_at: string; sums?: Record<string, number> }>;
  labels: string[];
  recent: { event: string; type: string; timestamp: string; messageId?: string; properties?: Record<string, unknown> }[];
  profile?: {
    computed: Record<string, unknown>; segments: string[];
    rfm?: { r: number; f: number; m: number; group: string };
    stage?: { name: string; since: string };
  };
}
export interface CustomerJourneys {
  id: string;
  instances: {
    journey: string; version: number; instance: number; status: string; step: string;
    entered_at: string; step_since: string; arm?: string; goal?: { reached: boolean; window_ends: string };
  }[];
  trace: {
    at: string; journey: string; version: number; action: string; step?: string;
    channel?: string; template?: string; reason?: string; task_id?: string;
  }[];
}
