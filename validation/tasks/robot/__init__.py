"""Robot tasks in MuJoCo: the synthetic suite's checks on simulated robots, closed loop.

Every task is a `validation.tasks.Task` (point modes = the scripted expert's chunks at
a state) and a `RobotTask` (simulator, expert, rollout classifier):

- `ReachAround` ("reach_around"): a point mass reaches a goal around an obstacle, left
  or right;
- `MultiReach` ("multi_reach"): ``K`` equally valid targets;
- `PushAround` ("push_around"): push a block past an obstacle on either side;
- `AlohaTransferCube` ("aloha_transfer_cube"): ALOHA bimanual transfer-cube from
  `gym-aloha`'s MJCF: either arm picks the cube and hands it over to the other,
  joint-space control from state observations, a closed-loop scripted expert planned
  by inverse kinematics (`kinematics`).

`rollout` runs closed-loop episodes (chunking and temporal ensembling through
`validation.execution.ChunkExecutor`) and collects the expert's demonstrations;
`normalise` wraps a policy with the per-dimension normalisation of its training data.
Importing this package imports MuJoCo; `validation.tasks.make_task` imports it lazily.
"""

from validation.tasks.robot.aloha import AlohaTransferCube
from validation.tasks.robot.multi_reach import MultiReach
from validation.tasks.robot.normalise import normalised
from validation.tasks.robot.push_around import PushAround
from validation.tasks.robot.reach_around import ReachAround
from validation.tasks.robot.rollout import (
    Rollouts,
    expert_demonstrations,
    expert_rollouts,
    policy_rollouts,
    run_closed_loop,
)
from validation.tasks.robot.scene import Outcome, RobotTask, load_model

__all__ = [
    "AlohaTransferCube", "MultiReach", "Outcome", "PushAround", "ReachAround", "RobotTask",
    "Rollouts", "expert_demonstrations", "expert_rollouts", "load_model", "normalised",
    "policy_rollouts", "run_closed_loop",
]
