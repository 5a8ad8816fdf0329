"""The zoo's models: random-initialised (fixed seeds) torchvision, timm and transformers models at
small input sizes, each as `(module, sample_shape, input_dtype, kind, classes)`.

`kind` is "class" (logits [N, classes], class targets [N]) or "lm" (logits [N, T, vocab],
next-token targets [N, T]). Works with torch 1.13 (Debian, torchvision only) and 2.13 (venv).
"""
import os
import sys
import types

# The image side: 64 unless ZOO_IMAGE_SIZE says otherwise (export_zoo.py --image-size).
_SIDE = int(os.environ.get("ZOO_IMAGE_SIZE", "64"))
IMAGE = [3, _SIDE, _SIDE]
CLASSES = 10
SEQ = 12
VOCAB = 100


def _torchvision():
    import torch

    if "+cpu" in torch.__version__ or torch.__version__ >= "2":
        # The venv's +cpu torch lacks torchvision's C ops; their fake registrations fail on import.
        sys.modules.setdefault("torchvision._meta_registrations",
                               types.ModuleType("torchvision._meta_registrations"))
    import torchvision

    return torchvision


def _tv(name, image=None, **kw):
    def build():
        tv = _torchvision()
        m = getattr(tv.models, name)(num_classes=CLASSES, **kw)
        return m, image or IMAGE, "float32", "class"
    return build


def _timm(name, **kw):
    def build():
        _torchvision()
        import timm

        m = timm.create_model(name, pretrained=False, num_classes=CLASSES, **kw)
        return m, IMAGE, "float32", "class"
    return build


def _wrap(model, attr="logits"):
    import torch

    class Logits(torch.nn.Module):
        """Calls a transformers model with one tensor and returns its logits."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return getattr(self.inner(x), attr)

    return Logits(model)


def bert():
    _torchvision()  # transformers imports torchvision
    import transformers as T

    c = T.BertConfig(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=128, max_position_embeddings=64, num_labels=CLASSES)
    return _wrap(T.BertForSequenceClassification(c)), [SEQ], "int64", "class"


def distilbert():
    _torchvision()  # transformers imports torchvision
    import transformers as T

    c = T.DistilBertConfig(vocab_size=VOCAB, dim=64, n_layers=2, n_heads=2, hidden_dim=128,
                           max_position_embeddings=64, num_labels=CLASSES)
    return _wrap(T.DistilBertForSequenceClassification(c)), [SEQ], "int64", "class"


def gpt2():
    _torchvision()  # transformers imports torchvision
    import transformers as T

    c = T.GPT2Config(vocab_size=VOCAB, n_positions=64, n_embd=64, n_layer=2, n_head=2)
    return _wrap(T.GPT2LMHeadModel(c)), [SEQ], "int64", "lm"


def hf_vit():
    _torchvision()  # transformers imports torchvision
    import transformers as T

    c = T.ViTConfig(image_size=32, patch_size=8, num_channels=3, hidden_size=64,
                    num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
                    num_labels=CLASSES)
    return _wrap(T.ViTForImageClassification(c)), [3, 32, 32], "float32", "class"


def wav2vec2():
    _torchvision()  # transformers imports torchvision
    import transformers as T

    c = T.Wav2Vec2Config(vocab_size=32, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=128, conv_dim=(32, 32), conv_stride=(5, 2),
                         conv_kernel=(10, 3), num_conv_pos_embeddings=16,
                         num_conv_pos_embedding_groups=2, feat_extract_norm="group",
                         mask_time_prob=0.0, num_labels=CLASSES, classifier_proj_size=32)
    return _wrap(T.Wav2Vec2ForSequenceClassification(c)), [400], "float32", "class"


MODELS = {
    "resnet18": _tv("resnet18"),
    "resnet50": _tv("resnet50"),
    "mobilenet_v2": _tv("mobilenet_v2"),
    "mobilenet_v3_small": _tv("mobilenet_v3_small"),
    "efficientnet_b0": _tv("efficientnet_b0"),
    "densenet121": _tv("densenet121"),
    "regnet_x_400mf": _tv("regnet_x_400mf"),
    "shufflenet_v2_x1_0": _tv("shufflenet_v2_x1_0"),
    "mnasnet0_5": _tv("mnasnet0_5"),
    "squeezenet1_1": _tv("squeezenet1_1"),
    "googlenet": _tv("googlenet", aux_logits=False, init_weights=True),
    # At 64×64 the legacy exporter refuses vgg's AdaptiveAvgPool2d(7) of a 2×2 map.
    "vgg11": _tv("vgg11", image=[3, 224, 224]),
    "convnext_tiny": _tv("convnext_tiny"),
    "vit_b_16": _tv("vit_b_16", image_size=64),
    "swin_t": _tv("swin_t"),
    "timm_efficientnet_b0": _timm("efficientnet_b0"),
    "timm_resnet26d": _timm("resnet26d"),
    "timm_deit_tiny": _timm("deit_tiny_patch16_224", img_size=64),
    "timm_mixer_s16": _timm("mixer_s16_224", img_size=64),
    "hf_bert": bert,
    "hf_distilbert": distilbert,
    "hf_gpt2": gpt2,
    "hf_vit": hf_vit,
    "hf_wav2vec2": wav2vec2,
}

TORCHVISION = {k for k in MODELS if not k.startswith(("timm_", "hf_"))}
