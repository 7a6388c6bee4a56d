import * as React from 'react';
import uPlot from 'uplot';

import type { TrainingMetric } from '../api/types';

export interface TrainingChartProps {
  /** The selected run's metrics, merged by step, in step order. */
  metrics: TrainingMetric[];
  /** A second run whose loss is drawn over the first (the "compare with" select). */
  compare?: TrainingMetric[] | null;
  compareLabel?: string;
  height?: number;
}

/** Loss points of a metrics list (rows with a training loss). */
export function lossPoints(metrics: TrainingMetric[]): number {
  return metrics.filter(m => typeof m.loss === 'number').length;
}

type Series = Array<number | null>;

/** Columns for uPlot: x = every step of both runs; gaps are null. */
export function chartData(
  metrics: TrainingMetric[],
  compare?: TrainingMetric[] | null
): [number[], Series, Series, Series, Series] {
  const steps = new Set<number>();
  metrics.forEach(m => steps.add(m.step));
  (compare ?? []).forEach(m => steps.add(m.step));
  const xs = [...steps].sort((a, b) => a - b);
  const mine = new Map(metrics.map(m => [m.step, m]));
  const other = new Map((compare ?? []).map(m => [m.step, m]));
  const col = (map: Map<number, TrainingMetric>, key: keyof TrainingMetric): Series =>
    xs.map(x => {
      const v = map.get(x)?.[key];
      return typeof v === 'number' && isFinite(v) ? v : null;
    });
  return [
    xs,
    col(mine, 'loss'),
    col(mine, 'eval_loss'),
    col(mine, 'learning_rate'),
    col(other, 'loss')
  ];
}

const COLORS = {
  loss: '#1976d2',
  eval: '#e65100',
  lr: '#9e9e9e',
  compare: '#8e24aa'
};

/**
 * Loss and eval loss against the step (left axis), the learning rate on a right axis, and
 * optionally another run's loss. Drawn with uPlot; `data-points` counts the loss points plotted.
 */
export function TrainingChart(props: TrainingChartProps): JSX.Element {
  const box = React.useRef<HTMLDivElement>(null);
  const plot = React.useRef<uPlot | null>(null);
  const [width, setWidth] = React.useState(480);
  const height = props.height ?? 220;
  const data = React.useMemo(
    () => chartData(props.metrics, props.compare),
    [props.metrics, props.compare]
  );
  const hasCompare = !!props.compare;
  const points = lossPoints(props.metrics);

  React.useEffect(() => {
    const el = box.current;
    if (!el || typeof ResizeObserver === 'undefined') {
      return;
    }
    const observer = new ResizeObserver(entries => {
      const w = Math.floor(entries[0]?.contentRect.width ?? 0);
      if (w > 50) {
        setWidth(w);
      }
    });
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  // (Re)create the plot when its series change; later data goes through setData.
  React.useEffect(() => {
    const el = box.current;
    if (!el) {
      return;
    }
    const opts: uPlot.Options = {
      width,
      height,
      legend: { show: true },
      cursor: { drag: { x: true, y: false } },
      scales: { x: { time: false }, loss: { auto: true }, lr: { auto: true } },
      series: [
        { label: 'step' },
        { label: 'loss', scale: 'loss', stroke: COLORS.loss, width: 2, spanGaps: true },
        {
          label: 'eval loss',
          scale: 'loss',
          stroke: COLORS.eval,
          width: 2,
          spanGaps: true,
          points: { show: true, size: 6 }
        },
        {
          label: 'learning rate',
          scale: 'lr',
          stroke: COLORS.lr,
          width: 1,
          dash: [4, 4],
          spanGaps: true
        },
        {
          label: props.compareLabel ? `loss (${props.compareLabel})` : 'compare loss',
          scale: 'loss',
          stroke: COLORS.compare,
          width: 1.5,
          spanGaps: true,
          show: hasCompare
        }
      ],
      axes: [
        { label: 'step' },
        { scale: 'loss', label: 'loss' },
        {
          scale: 'lr',
          side: 1,
          grid: { show: false },
          label: 'lr',
          values: (_u, vals) => vals.map(v => (v === null ? '' : Number(v).toExponential(0)))
        }
      ]
    };
    const u = new uPlot(opts, data as uPlot.AlignedData, el);
    plot.current = u;
    return () => {
      u.destroy();
      plot.current = null;
    };
    // data is applied below; recreating on every point would flicker
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [hasCompare, props.compareLabel, height]);

  React.useEffect(() => {
    plot.current?.setData(data as uPlot.AlignedData);
  }, [data]);

  React.useEffect(() => {
    plot.current?.setSize({ width, height });
  }, [width, height]);

  return (
    <div
      className="jp-ModelStudio-trainingChart"
      data-testid="training-chart"
      data-points={points}
      data-compare-points={props.compare ? lossPoints(props.compare) : 0}
    >
      <div ref={box} className="jp-ModelStudio-trainingChartBox" />
      {points === 0 && (
        <div className="jp-ModelStudio-muted jp-ModelStudio-trainingChartEmpty">
          No loss yet: the curve appears after the first logged step.
        </div>
      )}
    </div>
  );
}
