//! One way to wrap a backend: [`delegate_through_around!`] implements every backend trait for a
//! wrapper by passing each call, named `service:Operation`, through the wrapper's own
//! `around(op, call)` to the backend in its `inner` field. [`CountingAws`](super::CountingAws)
//! records the call there; [`FaultyAws`](crate::memory::FaultyAws) may fail it instead. A new trait
//! method is added here once, not once per wrapper.

/// Implements the backend traits for `$wrapper`, which has an `inner` backend and an inherent
/// `async fn around<T>(&self, op: &'static str, call: impl Future<Output = AwsResult<T>>) ->
/// AwsResult<T>`. The call future is lazy: `around` decides whether it runs at all.
macro_rules! delegate_through_around {
    ($wrapper:ty) => {
        $crate::backend::wrap::delegate_through_around! { @table $wrapper;
            Ec2Api {
                describe_image(region: &Region, image_id: &ImageId) -> Option<Image> = "ec2:DescribeImages";
                create_image(region: &Region, request: &CreateImage) -> ImageId = "ec2:CreateImage";
                describe_launch_template(region: &Region, template: &LaunchTemplateRef) -> Option<LaunchTemplate> = "ec2:DescribeLaunchTemplates";
                describe_launch_template_versions(region: &Region, template_id: &str) -> Vec<LaunchTemplateVersion> = "ec2:DescribeLaunchTemplateVersions";
                create_launch_template_version(region: &Region, request: &$crate::model::CreateLaunchTemplateVersion) -> i64 = "ec2:CreateLaunchTemplateVersion";
                set_default_launch_template_version(region: &Region, template_id: &str, version: i64) -> i64 = "ec2:ModifyLaunchTemplate";
                delete_launch_template_versions(region: &Region, template_id: &str, versions: &[i64]) -> Vec<(i64, String)> = "ec2:DeleteLaunchTemplateVersions";
                describe_own_images(region: &Region) -> Vec<Image> = "ec2:DescribeImages";
                describe_own_snapshots(region: &Region) -> Vec<Snapshot> = "ec2:DescribeSnapshots";
                describe_snapshots_tagged(region: &Region, tag_key: &str) -> Vec<Snapshot> = "ec2:DescribeSnapshots";
                describe_volumes_tagged(region: &Region, tag_key: &str) -> Vec<Volume> = "ec2:DescribeVolumes";
                describe_instances(region: &Region) -> Vec<Instance> = "ec2:DescribeInstances";
                describe_launch_templates(region: &Region) -> Vec<LaunchTemplate> = "ec2:DescribeLaunchTemplates";
                deregister_image(region: &Region, image_id: &ImageId, delete_snapshots: bool) -> Vec<String> = "ec2:DeregisterImage";
                delete_snapshot(region: &Region, snapshot_id: &str) -> () = "ec2:DeleteSnapshot";
                enable_image_deprecation(region: &Region, image_id: &ImageId, at: OffsetDateTime) -> () = "ec2:EnableImageDeprecation";
                disable_image(region: &Region, image_id: &ImageId) -> () = "ec2:DisableImage";
                copy_image(region: &Region, request: &CopyImage) -> ImageId = "ec2:CopyImage";
                share_image(region: &Region, image_id: &ImageId, account: &AccountId) -> () = "ec2:ModifyImageAttribute";
                share_snapshot(region: &Region, snapshot_id: &str, account: &AccountId) -> () = "ec2:ModifySnapshotAttribute";
                describe_images_tagged(region: &Region, key: &str, value: &str) -> Vec<Image> = "ec2:DescribeImages";
                describe_image_references(region: &Region, image_ids: &[ImageId]) -> Vec<ImageReference> = "ec2:DescribeImageReferences";
                set_deregistration_protection(region: &Region, image_id: &ImageId, enabled: bool) -> () = if enabled { "ec2:EnableImageDeregistrationProtection" } else { "ec2:DisableImageDeregistrationProtection" };
                create_tags(region: &Region, resource_ids: &[String], tags: &Tags) -> () = "ec2:CreateTags";
                get_allowed_images_settings(region: &Region) -> $crate::model::AllowedImagesSettings = "ec2:GetAllowedImagesSettings";
            }
            SsmApi {
                get_parameter(region: &Region, name: &str) -> Option<Parameter> = "ssm:GetParameter";
                put_parameter(region: &Region, request: &PutParameter) -> i64 = "ssm:PutParameter";
                delete_parameter(region: &Region, name: &str) -> () = "ssm:DeleteParameter";
                get_parameters_by_path(region: &Region, path: &str) -> Vec<Parameter> = "ssm:GetParametersByPath";
                get_parameter_history(region: &Region, name: &str) -> Vec<(i64, String)> = "ssm:GetParameterHistory";
                describe_parameter_names(region: &Region) -> Vec<String> = "ssm:DescribeParameters";
                get_parameters(region: &Region, names: &[String]) -> Vec<Parameter> = "ssm:GetParameters";
            }
            ImageBuilderApi {
                list_recipe_images(region: &Region) -> Vec<$crate::model::RecipeImage> = "imagebuilder:ListImageRecipes";
            }
            AutoScalingApi {
                describe_auto_scaling_group(region: &Region, name: &str) -> Option<AutoScalingGroup> = "autoscaling:DescribeAutoScalingGroups";
                describe_auto_scaling_groups(region: &Region) -> Vec<AutoScalingGroup> = "autoscaling:DescribeAutoScalingGroups";
                describe_launch_configurations(region: &Region) -> Vec<LaunchConfiguration> = "autoscaling:DescribeLaunchConfigurations";
                set_launch_template(region: &Region, group: &AutoScalingGroup, template: &LaunchTemplateSpec) -> () = "autoscaling:UpdateAutoScalingGroup";
                start_instance_refresh(region: &Region, group: &str, preferences: &InstanceRefreshPreferences) -> String = "autoscaling:StartInstanceRefresh";
            }
            CloudFormationApi {
                describe_stack(region: &Region, name: &str) -> Option<Stack> = "cloudformation:DescribeStacks";
                update_stack(region: &Region, request: &UpdateStack) -> StackUpdate = "cloudformation:UpdateStack";
                describe_stacks(region: &Region) -> Vec<Stack> = "cloudformation:DescribeStacks";
            }
            RecycleBinApi {
                list_recycle_bin_rules(region: &Region, resource_type: RecycleBinResource) -> Vec<RecycleBinRule> = "rbin:ListRules";
            }
            StsApi {
                assume_role(role_arn: &str, external_id: Option<&str>) -> Arc<dyn Aws> = "sts:AssumeRole";
            }
            EventsApi {
                put_events(region: &Region, entries: &[$crate::model::EventEntry]) -> Vec<$crate::model::EntryResult> = "events:PutEvents";
            }
        }
    };
    (@table $wrapper:ty; $($trait:ident { $($method:ident($($arg:ident: $type:ty),*) -> $output:ty = $op:expr;)* })*) => {
        $(
            #[async_trait::async_trait]
            impl $crate::backend::$trait for $wrapper {
                $(
                    async fn $method(&self, $($arg: $type),*) -> AwsResult<$output> {
                        self.around($op, self.inner.$method($($arg),*)).await
                    }
                )*
            }
        )*
    };
}

pub(crate) use delegate_through_around;
