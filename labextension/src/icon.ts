import { LabIcon } from '@jupyterlab/ui-components';

/** A cube with a spark: the studio's sidebar icon (themed through `jp-icon3`). */
const svgstr = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M12 2 3 7v10l9 5 9-5V7l-9-5zm0 2.3 6.6 3.7L12 11.7 5.4 8 12 4.3zM5 9.7l6 3.4v6.6l-6-3.4V9.7zm8 10v-6.6l6-3.4v6.6l-6 3.4z"/>
  </g>
</svg>`;

export const studioIcon = new LabIcon({ name: 'jupyter-model-studio:icon', svgstr });
