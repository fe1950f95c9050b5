"""Model zoo: importing this package registers every model.

    from vidsparse.models import create_model, list_models, model_input
    model = create_model("x3d_s", num_classes=101)            # the published configuration
    model = create_model("x3d_s-tiny", num_classes=4)         # the CPU-test configuration
    model_input("x3d_s-tiny").shape(batch=2)                  # what to feed it
"""

from vidsparse.models import (  # noqa: F401  (each module registers its models)
    c3d,
    efficientnet,
    lenet,
    pytorchvideo_nets,
    resnet2d,
    resnet3d,
    timesformer,
    tv_video_transformers,
    vgg,
    vit,
    vivit,
)
from vidsparse.models.pretrained import PretrainedReport, load_pretrained
from vidsparse.models.registry import (
    FAMILIES,
    MODELS,
    InputSpec,
    ModelEntry,
    create_model,
    get_model_entry,
    list_models,
    model_from_config,
    model_input,
    register_model,
)

__all__ = ["FAMILIES", "MODELS", "InputSpec", "ModelEntry", "PretrainedReport", "create_model", "get_model_entry",
           "list_models", "load_pretrained", "model_from_config", "model_input", "register_model"]
