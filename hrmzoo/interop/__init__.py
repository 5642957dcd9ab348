"""Import checkpoints of the original HRM and TRM code into the zoo.

`import_hrm` and `import_trm` read a state dict written by
sapientinc/HRM or SamsungSAILMontreal/TinyRecursiveModels (never unpickling
code), map every key, build the recipe from the original's arch config and
return a ReasoningModel with those weights; `hrmzoo import` is the command.
`to_original_state_dict` is the inverse mapping.
"""

from hrmzoo.interop.hrm import import_hrm
from hrmzoo.interop.state_dict import to_original_state_dict
from hrmzoo.interop.trm import import_trm

__all__ = ["import_hrm", "import_trm", "to_original_state_dict"]
