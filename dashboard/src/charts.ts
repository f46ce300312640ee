// Chart.js with only the parts the pages use (tree-shaken), one palette,
// and a registry so a page change destroys the charts it made.
import {
  BarController, BarElement, CategoryScale, Chart, Filler, Legend, LinearScale, LineController,
  LineElement, PointElement, Tooltip, type ChartConfiguration,
} from "chart.js";
import { MatrixController, MatrixElement } from "chartjs-chart-matrix";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, LineController, LineElement,
  PointElement, Filler, Legend, Tooltip, MatrixController, MatrixElement);
Chart.defaults.font.family = "system-ui, sans-serif";
Chart.defaults.animation = false;

export const palette = ["#2f6fde", "#e0793a", "#2a9d6f", "#b54fc2", "#d4a72c", "#5b6b7f",
  "#d94f5c", "#3fb6c9", "#8a6d3b", "#6a8f2b"];

const live: Chart[] = [];

export function chart(canvas: HTMLCanvasElement, config: ChartConfiguration): Chart {
  const c = new Chart(canvas, config);
  live.push(c);
  return c;
}

export function destroyCharts(): void {
  while (live.length) live.pop()!.destroy();
}
