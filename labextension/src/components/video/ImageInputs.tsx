import * as React from 'react';

import type { VideoModel } from '../../api/types';

/** An image picked in the form: its file name and a `data:` URL of its bytes. */
export interface PickedImage {
  name: string;
  data: string;
}

/** One image upload: a file input, then a preview and Remove. */
function ImageInput(props: {
  label: string;
  name: string;
  testId: string;
  image: PickedImage | null;
  onPick: (e: React.ChangeEvent<HTMLInputElement>) => void;
  onRemove: () => void;
}): JSX.Element {
  const { testId, image } = props;
  return (
    <div className="jms-video-wide jms-video-image" data-testid={testId}>
      <label>
        {props.label}
        <input
          type="file"
          name={props.name}
          accept="image/png,image/jpeg,image/webp"
          data-testid={`${testId}-input`}
          onChange={props.onPick}
        />
      </label>
      {image && (
        <span className="jms-video-imagePreview">
          <img src={image.data} alt={image.name} data-testid={`${testId}-preview`} />
          <button
            type="button"
            className="jp-ModelStudio-button"
            data-testid={`${testId}-remove`}
            onClick={props.onRemove}
          >
            Remove image
          </button>
        </span>
      )}
    </div>
  );
}

/** The start image (image-to-video models) and the last frame (models that take one, shown
 * only for them: first-last-frame). */
export function ImageInputs(props: {
  model: VideoModel | undefined;
  image: PickedImage | null;
  onPickImage: (e: React.ChangeEvent<HTMLInputElement>) => void;
  onRemoveImage: () => void;
  lastImage: PickedImage | null;
  onPickLastImage: (e: React.ChangeEvent<HTMLInputElement>) => void;
  onRemoveLastImage: () => void;
}): JSX.Element | null {
  const { model } = props;
  if (!model?.image_to_video) {
    return null;
  }
  const start = model.text_to_video ? 'Start image (optional)' : 'Start image';
  return (
    <>
      <ImageInput
        label={start}
        name="image"
        testId="video-image"
        image={props.image}
        onPick={props.onPickImage}
        onRemove={props.onRemoveImage}
      />
      {model.last_image && (
        <ImageInput
          label={
            model.last_image_required
              ? 'Last frame (the video ends on it; this model needs one)'
              : 'Last frame (optional: the video ends on it; needs a start image)'
          }
          name="last_image"
          testId="video-last-image"
          image={props.lastImage}
          onPick={props.onPickLastImage}
          onRemove={props.onRemoveLastImage}
        />
      )}
    </>
  );
}
